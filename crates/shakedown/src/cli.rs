//! Command-line interface (clap derive) and the mapping from outcomes to exit codes.
//!
//! What to test lives in the plan; how this process runs (output directory, output format,
//! progress, verbosity) lives here. Exit codes are a contract: 0 GO, 1 NO-GO, 2 usage, plan or
//! internal error, 3 INCOMPLETE, 4 ABORTED.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::cli_attest::RunSigner;
use crate::workers::Workers;
use shakedown_core::engine::{self, RunOptions};
use shakedown_core::status::EXIT_ERROR;
use shakedown_plan::model::Plan;

/// shakedown: a release gate for deployed systems. One plan drives load, verifies that no
/// work was lost, duplicated or stuck, and writes evidence with a GO / NO-GO verdict.
#[derive(Debug, Parser)]
#[command(name = "shakedown", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How the run is presented.
    #[command(flatten)]
    pub output: OutputArgs,
}

const EXIT_CODES: &str = "Exit codes: 0 GO, 1 NO-GO, 2 usage, plan or internal error, \
                          3 INCOMPLETE, 4 ABORTED.";

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plan: preflight, load, settle, verify, report.
    Run(RunArgs),
    /// Check a plan and report every error in it, without running anything.
    Validate {
        /// The plan file (TOML).
        plan: PathBuf,
    },
    /// Start the bundled testbed on loopback and run the demo gate against it. No setup needed.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Check a run directory against its manifest.json: exit 1 if any file was edited, removed
    /// or added since the run sealed it.
    VerifyBundle(crate::cli_evidence::VerifyBundleArgs),
    /// Compare two reports (run directories or report.json files): exit 1 on a regression.
    Diff(crate::cli_evidence::DiffArgs),
    /// Render report.html again from a run directory, naming anything missing from it.
    Report(crate::cli_evidence::ReportArgs),
    /// Classify a run directory's saved history.jsonl again, offline (no plan, no secrets):
    /// exit 0 clean, 1 work lost/duplicated/stuck/etc., 3 undecided keys.
    Check(crate::cli_check::CheckArgs),
    /// Revert every fault a run directory's journal says is still applied (after shakedown was
    /// killed), and stop process targets that outlived their run. Safe to run twice. A sealed
    /// run directory is not written: what was done goes to RUN_DIR.reconciled.jsonl next to it.
    Reconcile(crate::cli_faults::ReconcileArgs),
    /// Send requests to one URL (closed model, or open with --rate) and print latency and
    /// throughput: the ad-hoc mode, on the same engine as plans. Exit 1 if a --threshold fails.
    Hit(crate::cli_hit::HitArgs),
    /// Run the bundled testbed (the reference system under test). Used by `demo` and the tests.
    #[cfg(feature = "demo")]
    #[command(hide = true)]
    Testbed(testbed::cli::TestbedArgs),
    /// Enforce a pause's TTL outside the run (started by `run`, detached).
    #[command(hide = true)]
    Guard(crate::cli_faults::GuardArgs),
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Print what would run (targets, tests, thresholds) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    /// Where evidence goes and which checks run.
    pub run: RunFlags,
}

/// Arguments of `demo`.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Switch on a seeded defect in the testbed (repeatable), to watch a check catch it.
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// Number of testbed workers.
    #[arg(long, default_value_t = 2)]
    pub workers: u32,
    #[command(flatten)]
    /// Where evidence goes and which checks run.
    pub run: RunFlags,
}

/// Flags shared by `run` and `demo`.
#[derive(Debug, Args)]
pub struct RunFlags {
    /// The run directory for the evidence (default: shakedown-runs/<time>-<plan name>). It must
    /// be new or empty: everything in it is sealed as the run's evidence.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Make a fresh run directory, <time>-<plan name>, under DIR instead of shakedown-runs/.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub out_under: Option<PathBuf>,
    /// Run only these checks (comma-separated ids, e.g. L1,L3); the rest are SKIPPED.
    #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
    pub only: Option<Vec<String>>,
    /// Allow fault tests against a plan whose environment is `production`.
    #[arg(long)]
    pub allow_production: bool,
    /// Stop the run, reverting every fault, when this file appears.
    #[arg(long, value_name = "PATH")]
    pub kill_file: Option<PathBuf>,
    /// Sign the verdict: after the bundle is sealed, write attestation.json, a DSSE envelope
    /// around an in-toto statement of the verdict, the checks and manifest.json's SHA-256.
    /// KEY is an Ed25519 private key in PKCS#8 (PEM, as `openssl genpkey -algorithm ed25519`
    /// writes, or DER): a file path, or env:NAME for a PEM in an environment variable. A key
    /// that cannot be used stops the run before it starts (exit 2).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<String>,
    /// What the signed verdict is about, NAME@sha256:DIGEST (e.g. the image deployed to the
    /// system under test), repeatable. Only with --sign; default: the run's sealed plan.toml.
    #[arg(long = "subject", value_name = "NAME@sha256:DIGEST")]
    pub subjects: Vec<String>,
    /// Worker threads of the runtime that sends the load (default: one per core, or half the
    /// cores, at least one, when every target is on this machine and needs cores too).
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

/// Output flags, valid for every subcommand.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// What to print on stdout at the end of a run.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Do not draw live progress on stderr.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Print only the verdict line.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Output formats for the end-of-run summary on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table and the verdict.
    Human,
    /// The full report.json.
    Json,
    /// The report.md.
    Markdown,
}

/// Parse arguments, run, and return the process exit code. The one exit point of the program.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Guard(args) = &cli.command {
        return match crate::cli_faults::guard(args) {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprintln!("guard: {err:#}");
                ExitCode::from(EXIT_ERROR)
            }
        };
    }
    #[cfg(feature = "demo")]
    if let Command::Testbed(args) = cli.command {
        let launcher = testbed::cli::Launcher::current_exe(&["testbed"]);
        return match testbed::cli::run(args, launcher) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("testbed: {err:#}");
                ExitCode::from(EXIT_ERROR)
            }
        };
    }
    init_tracing(cli.output.verbose);
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            match err.downcast_ref::<shakedown_plan::PlanErrors>() {
                // Plan diagnostics carry their own "error:" headings, spans and hints.
                Some(errors) => eprintln!("{errors}"),
                None => eprintln!(
                    "error: {}",
                    shakedown_plan::redact::stream::redact_process_text(&format!("{err:#}"))
                ),
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHAKEDOWN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(shakedown_plan::redact::stream::RedactedStderr)
        .try_init();
}

/// The plan's warnings, on stderr: legal, but probably not what was meant.
fn print_warnings(plan: &shakedown_plan::model::Plan) {
    for warning in &plan.warnings {
        eprintln!(
            "{}\n",
            shakedown_plan::redact::stream::redact_process_text(warning)
        );
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let output = cli.output;
    match cli.command {
        Command::Validate { plan } => {
            let plan = load_plan(&plan)?;
            print_warnings(&plan);
            if !output.quiet {
                println!(
                    "{}",
                    shakedown_plan::redact::stream::redact_process_text(
                        &crate::console::validated(&plan)
                    )
                );
            }
            Ok(0)
        }
        Command::Run(args) => {
            let plan = load_plan(&args.plan)?;
            let signer = RunSigner::from_flags(args.run.sign.as_deref(), &args.run.subjects)?;
            forget_signing_key_variable(args.run.sign.as_deref());
            if !output.quiet {
                print_warnings(&plan);
            }
            if args.dry_run {
                println!(
                    "{}",
                    shakedown_plan::redact::stream::redact_process_text(&crate::console::dry_run(
                        &plan
                    ))
                );
                return Ok(0);
            }
            let options = run_options(&plan, &args.run, &output)?;
            let targets = plan.targets.values().map(|t| t.base_url.as_str());
            let workers = Workers::choose(args.run.threads, targets);
            runtime(workers)?.block_on(run_plan(Arc::new(plan), options, &output, signer.as_ref()))
        }
        // The demo's targets are the bundled testbed, on this machine.
        #[cfg(feature = "demo")]
        Command::Demo(args) => {
            let signer = RunSigner::from_flags(args.run.sign.as_deref(), &args.run.subjects)?;
            forget_signing_key_variable(args.run.sign.as_deref());
            runtime(Workers::choose(args.run.threads, ["http://127.0.0.1/"]))?.block_on(async {
                let demo = crate::demo::Demo::start(&args.defects, args.workers).await?;
                let plan = demo.plan()?;
                let options = run_options(&plan, &args.run, &output)?;
                let result = run_plan(Arc::new(plan), options, &output, signer.as_ref()).await;
                demo.stop().await;
                result
            })
        }
        Command::VerifyBundle(args) => {
            crate::cli_evidence::verify_bundle(&args, output.format == Format::Json)
        }
        Command::Diff(args) => crate::cli_evidence::diff(&args, output.format == Format::Json),
        Command::Report(args) => crate::cli_evidence::report(&args),
        Command::Check(args) => crate::cli_check::check(&args, output.format == Format::Json),
        Command::Reconcile(args) => crate::cli_faults::reconcile(&args),
        Command::Hit(args) => {
            crate::cli_hit::hit(&args, !output.no_progress && !output.quiet && !args.json)
        }
        #[cfg(feature = "demo")]
        Command::Testbed(_) => Ok(EXIT_ERROR),
        Command::Guard(_) => Ok(EXIT_ERROR),
    }
}

/// With `--sign env:NAME`, remove NAME from shakedown's environment once the key is read, so
/// that no process it starts (a process target, an exec fault's command) inherits the key.
#[allow(unsafe_code)]
fn forget_signing_key_variable(sign: Option<&str>) {
    if let Some(name) = sign.and_then(|s| s.strip_prefix("env:")) {
        // SAFETY: called before the runtime is built, while this process runs on one thread,
        // so nothing reads the environment at the same time.
        unsafe { std::env::remove_var(name) };
    }
}

fn runtime(workers: Workers) -> anyhow::Result<tokio::runtime::Runtime> {
    workers.runtime().context("cannot start the async runtime")
}

/// Load and compile a plan, reading `${VAR}` and secrets from the process environment.
fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    let plan =
        shakedown_plan::load(path, &|name| std::env::var(name).ok()).map_err(anyhow::Error::new)?;
    install_redactor(&plan);
    Ok(plan)
}

/// From here on, logs, error messages and everything printed are redacted with `plan`'s secrets.
fn install_redactor(plan: &Plan) {
    shakedown_plan::redact::stream::install(shakedown_plan::redact::Redactor::new(&plan.secrets));
}

fn run_options(plan: &Plan, flags: &RunFlags, output: &OutputArgs) -> anyhow::Result<RunOptions> {
    check_only(plan, flags.only.as_deref())?;
    let out_dir = match (&flags.out, &flags.out_under) {
        (Some(out), _) => {
            refuse_non_empty(out)?;
            out.clone()
        }
        (None, Some(base)) => engine::default_run_dir(base, &plan.name),
        (None, None) => engine::default_run_dir(Path::new("shakedown-runs"), &plan.name),
    };
    Ok(RunOptions {
        out_dir,
        only: flags.only.clone(),
        progress: !output.no_progress && !output.quiet,
        before_settle: None,
        faults: engine::FaultOptions {
            allow_production: flags.allow_production,
            kill_file: flags.kill_file.clone(),
            guard_exe: std::env::current_exe().ok(),
        },
    })
}

/// `--out` must be new or empty: the run seals every file in it, so another run's files (or
/// anything else) left there would pass as this run's evidence.
fn refuse_non_empty(out: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        // Absent is fine; a file in the way is reported when the directory is created.
        return Ok(());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    let shown = names.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    let more = if names.len() > 3 { ", ..." } else { "" };
    anyhow::bail!(
        "--out {dir} is not empty (it holds {shown}{more}): everything in a run directory is \
         sealed as that run's evidence, so it must be new or empty. Choose a new path, or use \
         --out-under {dir} to make a fresh run directory inside it",
        dir = out.display()
    )
}

/// `--only` must name checks of the plan: a typo would otherwise skip everything and pass.
fn check_only(plan: &Plan, only: Option<&[String]>) -> anyhow::Result<()> {
    let Some(only) = only else { return Ok(()) };
    let known = engine::check_ids(plan);
    let unknown: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|id| !known.contains(id))
        .collect();
    if only.is_empty() || !unknown.is_empty() {
        anyhow::bail!(
            "--only names no check of the plan: {}; the plan's checks are {}",
            if unknown.is_empty() {
                "(empty)".to_string()
            } else {
                unknown.join(", ")
            },
            known.join(", ")
        );
    }
    Ok(())
}

/// Run a plan with Ctrl-C and SIGTERM wired to cancellation, sign the sealed bundle when
/// `signer` is given, print the summary, and return the verdict's exit code. After a failed
/// write of evidence the report files on disk may be stale, so `--format json` and `markdown`
/// print the final report rendered from memory.
async fn run_plan(
    plan: Arc<Plan>,
    options: RunOptions,
    output: &OutputArgs,
    signer: Option<&RunSigner>,
) -> anyhow::Result<u8> {
    install_redactor(&plan);
    let redactor = shakedown_plan::redact::Redactor::new(&plan.secrets);
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let result = engine::run(Arc::clone(&plan), options, cancel).await;
    signals.abort();
    let result = result?;
    if let Some(signer) = signer {
        sign_run(&plan, &result, signer, output)?;
    }
    let file = |name: &str| -> anyhow::Result<String> {
        if result.report.run.write_failure.is_some()
            && let Some(text) =
                shakedown_core::report::bundle::render_report_file(&result.report, &redactor, name)?
        {
            return Ok(text);
        }
        std::fs::read_to_string(result.dir.join(name))
            .with_context(|| format!("cannot read back {name}"))
    };
    let text = match output.format {
        _ if output.quiet => crate::console::verdict_line(&result.report, &result.dir),
        Format::Human => crate::console::summary(&result.report, &result.dir),
        Format::Json => file("report.json")?,
        Format::Markdown => file("report.md")?,
    };
    println!(
        "{}",
        shakedown_plan::redact::stream::redact_process_text(text.trim_end())
    );
    Ok(result.report.exit_code)
}

/// Write the sealed run's `attestation.json`. A run that cannot be signed is an error (exit 2):
/// a deploy step waiting for the signed verdict would otherwise find none and not know why.
fn sign_run(
    plan: &Plan,
    result: &engine::RunResult,
    signer: &RunSigner,
    output: &OutputArgs,
) -> anyhow::Result<()> {
    let redactor = shakedown_plan::redact::Redactor::new(&plan.secrets);
    let statement =
        shakedown_core::report::attest::sign(&result.dir, &signer.key, &signer.subjects, &redactor)
            .with_context(|| {
                format!(
                    "the run ended {} but its bundle {} could not be signed",
                    result.report.verdict,
                    result.dir.display()
                )
            })?;
    if !output.quiet {
        let subjects: Vec<String> = statement.subject.iter().map(ToString::to_string).collect();
        eprintln!(
            "signed: {} ({} for {}, key {})",
            result
                .dir
                .join(shakedown_core::report::attest::ATTESTATION)
                .display(),
            statement.predicate.shakedown.verdict,
            subjects.join(", "),
            shakedown_core::report::dsse::key_id(&signer.key.verifying_key())
        );
    }
    Ok(())
}

/// Cancel the run on the first Ctrl-C or SIGTERM. The engine then stops the load, reverts
/// what it changed, and still writes the report.
async fn cancel_on_signal(cancel: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!("cannot listen for SIGTERM: {err}");
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("interrupted: stopping the load and writing the report");
    cancel.cancel();
}
