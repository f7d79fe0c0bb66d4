//! The engine: the phases of a run, and the only place that knows their order.
//!
//! preflight -> load tests in plan order -> settle -> verify -> report. The report is rewritten
//! after every phase, so an interrupted run (Ctrl-C, SIGTERM, a plan bound) still leaves
//! evidence, and it ends ABORTED rather than pretending its partial figures are a verdict.
//!
//! Every writer of the run directory (reports, history, stream records, the fault journal,
//! process logs) reports its first failed write to the run's [`RunStop`], which cancels the run
//! like a safety rule does: the load stops, the faults are reverted, and the run ends ABORTED
//! with the file and the error, writing and sealing whatever still can be written.

mod faults;
mod load_judge;
pub mod preflight;
mod proxies;
mod seal;
mod verify_phase;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::budget::{RequestBudget, StopReason};
use crate::check::{CheckKind, TargetCheck};
use crate::ledger::history::Ledger;
use crate::ledger::watch::Watcher;
use crate::load::{LoadEnv, LoadOutcome};
use crate::metrics::windows::Windows;
use crate::report::bundle::RunDir;
use crate::report::model::{CheckReport, Phase, Report, RunInfo, SCHEMA_VERSION, ToolInfo};
use crate::status::Status;
use crate::stop::RunStop;
use shakedown_plan::model::{LoadTest, Plan};
use shakedown_plan::redact::Redactor;

/// How to run a plan: process concerns, not what to test (that is the plan's).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory to write evidence into (created if missing).
    pub out_dir: PathBuf,
    /// Run only the checks with these ids; the rest are SKIPPED with the reason.
    pub only: Option<Vec<String>>,
    /// Draw live progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// Called after the load tests and before settle. The faults issue puts heal here; tests
    /// use it to restart the system under test between load and settle.
    pub before_settle: Option<PhaseHook>,
    /// `--allow-production`, `--kill-file` and the guard executable.
    pub faults: FaultOptions,
}

pub use faults::FaultOptions;

/// An async callback run between two phases.
#[derive(Clone)]
pub struct PhaseHook(pub Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>);

impl std::fmt::Debug for PhaseHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhaseHook")
    }
}

/// What a finished run leaves: the final report, where the evidence is, and the latency
/// histograms of its load tests.
#[derive(Debug)]
pub struct RunResult {
    /// The final report (also written to the run directory).
    pub report: Report,
    /// The run directory.
    pub dir: PathBuf,
    /// The per-second latency windows of each load test that ran, by test id: the aggregator's
    /// own histograms (those `latency.hlog` holds), moved out of its measurements at the end of
    /// the run, so that a caller in this process reads them without reading its files back.
    pub windows: BTreeMap<String, Windows>,
}

/// Name of the redacted effective plan in the run directory.
pub const EFFECTIVE_PLAN: &str = "plan.toml";
/// Name of the history in the run directory.
pub const HISTORY: &str = "history.jsonl";

/// Run `plan` to completion or cancellation, writing evidence to `options.out_dir`, then seal
/// the run directory with `manifest.json`: last, after every other file, and also after an
/// interruption or an error.
pub async fn run(
    plan: Arc<Plan>,
    options: RunOptions,
    cancel: CancellationToken,
) -> anyhow::Result<RunResult> {
    let started_at = now_rfc3339();
    let out_dir = options.out_dir.clone();
    let stop = RunStop::new(cancel.clone());
    let result = run_phases(plan.clone(), options, cancel, stop.clone()).await;
    seal::seal_run(&plan, &out_dir, &started_at, result, &stop)
}

/// Every phase of the run, writing the reports after each.
async fn run_phases(
    plan: Arc<Plan>,
    options: RunOptions,
    cancel: CancellationToken,
    stop: RunStop,
) -> anyhow::Result<RunResult> {
    // Fault proxies first: targets and process controls connect through them, so their real
    // addresses go into the plan before anything reads it.
    let proxy_stage = proxies::ProxyStage::start(&plan);
    let plan = proxy_stage.bind(&plan);
    let redactor = Redactor::new(&plan.secrets);
    let dir = RunDir::create(&options.out_dir)
        .with_context(|| format!("cannot create run directory {}", options.out_dir.display()))?
        .stopping(stop.clone());
    let mut run = Run {
        report: initial_report(&plan),
        dir,
        redactor,
        stop,
    };
    // A failed write here has stopped the run already (the files and the error are in `stop`):
    // nothing ran yet, so the run ends at once, ABORTED.
    let ledger = run
        .dir
        .write_file(EFFECTIVE_PLAN, &plan.redacted_source)
        .and_then(|()| {
            Ledger::create_in_run(
                &run.dir.path().join(HISTORY),
                plan.clone(),
                run.redactor.clone(),
                run.stop.clone(),
            )
        });
    let ledger = match ledger {
        Ok(ledger) => ledger,
        Err(_) if run.stop.write_failure().is_some() => {
            proxy_stage.stop().await;
            return Ok(run.abort_early());
        }
        Err(e) => return Err(e).context("cannot create history.jsonl"),
    };
    run.write()?;

    // A hard bound on the whole run, enforced independently of everything else.
    // Second 0 of every per-second window of the run.
    let run_start = tokio::time::Instant::now();
    let deadline = run_start + plan.limits.duration;
    let bound = cancel.child_token();
    let watchdog = {
        let bound = bound.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            bound.cancel();
        })
    };

    // Faults: reconcile leftovers, open the journal, start process targets before preflight.
    let mut fault_stage = match faults::FaultStage::open(&plan, &run, &options, &cancel) {
        Ok(stage) => stage,
        Err(_) if run.stop.write_failure().is_some() => {
            watchdog.abort();
            proxy_stage.stop().await;
            return Ok(run.abort_early());
        }
        Err(e) => return Err(e),
    };
    fault_stage.set_proxies(proxy_stage.handles());
    let controls = fault_stage.prepare(&run.redactor).await;

    // Preflight.
    run.report.preflight =
        preflight::check_targets(&plan, &run.redactor, options.only.as_deref()).await;
    run.report.preflight.extend(controls);
    run.report
        .preflight
        .extend(proxy_stage.preflight(&plan, &run.redactor).await);
    let oracles = crate::probes::check_oracles(&plan, options.only.as_deref()).await;
    run.report
        .preflight
        .extend(oracles.into_iter().map(|mut c| {
            c.reason = run.redactor.redact(&c.reason).into_owned();
            c
        }));
    run.report.run.phase = Phase::Preflight;
    run.write()?;

    // Load tests, in plan order.
    let env = LoadEnv {
        plan: plan.clone(),
        ledger: ledger.clone(),
        budget: Arc::new(RequestBudget::new(plan.limits.requests, deadline)),
        progress: options.progress,
        run_id: run.report.run.id.clone(),
        run_start,
    };
    // The ledger reads tracked work in the background from here until settle.
    let watcher = Watcher::start(ledger.clone(), env.budget.clone(), &bound);
    let mut outcomes: BTreeMap<String, LoadOutcome> = BTreeMap::new();
    for (index, test) in plan.load_tests.iter().enumerate() {
        if let Some(check) = gate(test, &options, &run.report.preflight, &bound) {
            run.report.checks[index] = check;
            continue;
        }
        run.report.checks[index].reason = "running".into();
        run.write()?;
        let outcome = crate::load::run_load_test(&env, test, bound.clone()).await;
        let check = &mut run.report.checks[index];
        check.metrics = Some(outcome.summary.clone());
        check.status = Status::Inconclusive;
        check.reason = "ran; awaiting settle and verification".into();
        if let Some(stop) = &outcome.stopped {
            record_stop(&mut run.report, stop, &cancel);
        }
        outcomes.insert(test.id.clone(), outcome);
        write_latency_log(&run, &plan, &outcomes, run_start);
        run.report.run.phase = Phase::Load;
        run.write()?;
    }
    // Fault tests, in plan order, after the load tests.
    fault_stage
        .run_tests(&plan, &env, &mut run, &options, &bound)
        .await?;
    if let Some(watcher) = watcher {
        run.report.run.watch = Some(watcher.stop().await);
    }
    run.flush(&ledger)?;

    // Settle, then verify: only for a run that was not interrupted, since a partial settle
    // would turn "not finished yet" into "stuck".
    if bound.is_cancelled() {
        record_interrupt(&mut run.report, &cancel);
    }
    let ledgers = if run.report.run.interrupted {
        None
    } else if ledger.tracked() == 0 {
        Some(BTreeMap::new())
    } else {
        if let Some(hook) = &options.before_settle {
            (hook.0)().await;
        }
        let outcome = crate::ledger::settle::settle(&ledger, &bound).await;
        run.flush(&ledger)?;
        tracing::info!(
            settled = outcome.settled,
            reads = outcome.reads,
            "settle done"
        );
        run.report.run.phase = Phase::Settle;
        if bound.is_cancelled() {
            record_interrupt(&mut run.report, &cancel);
            None
        } else {
            Some(crate::ledger::checker::classify(&ledger.records(), &plan))
        }
    };

    let streams = match &ledgers {
        Some(_) => load_judge::stream_checks(&ledger),
        None => Ok(BTreeMap::new()),
    };
    for (index, test) in plan.load_tests.iter().enumerate() {
        let Some(outcome) = outcomes.get(&test.id) else {
            continue;
        };
        let check = &mut run.report.checks[index];
        match &ledgers {
            Some(ledgers) => {
                load_judge::judge(check, test, outcome, ledgers.get(&test.id));
                load_judge::judge_streams(check, &streams);
            }
            None => load_judge::interrupted(check, test, outcome),
        }
    }
    fault_stage.judge(&plan, &mut run.report, ledgers.as_ref());
    if ledgers.is_some() {
        // Fault tests read streams too (C2): the same stream check judges them.
        for check in run.report.checks.iter_mut().skip(plan.load_tests.len()) {
            load_judge::judge_streams(check, &streams);
        }
    }
    run.report.run.phase = Phase::Verify;
    run.write()?;
    let records = ledgers.as_ref().map(|_| ledger.records());
    verify_phase::run_verifications(&plan, records.as_deref(), &mut run, &options, &bound).await?;
    fault_stage.finish().await;
    proxy_stage.stop().await;

    watchdog.abort();
    let windows = outcomes
        .into_iter()
        .map(|(id, outcome)| (id, outcome.measurements.windows))
        .collect();
    Ok(run.finish(windows))
}

/// The run's mutable state: the report being built, where it is written, and why the run was
/// stopped, if it was.
struct Run {
    report: Report,
    dir: RunDir,
    redactor: Redactor,
    stop: RunStop,
}

impl Run {
    /// Decide the verdict from what is known now and rewrite every report file. A failed write
    /// has stopped the run through [`RunStop`] (the run goes on to its end, reverting its faults,
    /// and is ABORTED); any other failure is an error.
    fn write(&mut self) -> anyhow::Result<()> {
        self.note_stop();
        self.report.decide();
        match self.dir.write_reports(&self.report, &self.redactor) {
            Ok(()) => Ok(()),
            Err(_) if self.stop.write_failure().is_some() => {
                self.note_stop();
                self.report.decide();
                Ok(())
            }
            Err(e) => Err(e)
                .with_context(|| format!("cannot write reports in {}", self.dir.path().display())),
        }
    }

    /// Put what stopped the run (a safety rule, a failed write) in the report.
    fn note_stop(&mut self) {
        if let Some(reason) = self.stop.reason() {
            self.report.run.interrupted = true;
            self.report.run.stop_reason = Some(reason);
        }
        self.report.run.write_failure = self.stop.write_failure();
    }

    /// Flush the history: a failed write has stopped the run already; the error is only
    /// returned when it did not come from a write.
    fn flush(&self, ledger: &Ledger) -> anyhow::Result<()> {
        match ledger.flush() {
            Err(_) if self.stop.write_failure().is_some() => Ok(()),
            flushed => flushed.context("cannot write history.jsonl"),
        }
    }

    /// The final report of a run stopped before any check started: every check is SKIPPED.
    fn abort_early(mut self) -> RunResult {
        for check in &mut self.report.checks {
            check.status = Status::Skipped;
            check.reason = "not run: a write of evidence failed before it started".into();
        }
        self.finish(BTreeMap::new())
    }

    /// The final report, written (as far as it can be), and returned with the load tests'
    /// `windows`.
    fn finish(mut self, windows: BTreeMap<String, Windows>) -> RunResult {
        self.report.run.phase = Phase::Complete;
        self.report.run.finished_at = Some(now_rfc3339());
        if let Err(e) = self.write() {
            // Not a failed write (those are in the report): the reports could not be rendered.
            tracing::error!(error = %format!("{e:#}"), "cannot write the final report");
        }
        RunResult {
            report: self.report,
            dir: self.dir.path().to_path_buf(),
            windows,
        }
    }
}

/// Why a check is SKIPPED when `--only` is given and does not name it; None when it is selected.
fn unselected(id: &str, options: &RunOptions) -> Option<String> {
    let only = options.only.as_ref()?;
    let named = only.iter().any(|o| o == id);
    (!named).then(|| format!("not selected by --only {}", only.join(",")))
}

/// Whether a test runs: SKIPPED when not selected or after an interruption, BLOCKED when a
/// target it uses failed preflight. None means "run it".
fn gate(
    test: &LoadTest,
    options: &RunOptions,
    preflight: &[TargetCheck],
    bound: &CancellationToken,
) -> Option<CheckReport> {
    let mut check = pending_check(test);
    if let Some(reason) = unselected(&test.id, options) {
        check.status = Status::Skipped;
        check.reason = reason;
        return Some(check);
    }
    if bound.is_cancelled() {
        check.status = Status::Skipped;
        check.reason = "not run: the run was interrupted before it started".into();
        return Some(check);
    }
    let blocked: Vec<&TargetCheck> = preflight
        .iter()
        .filter(|t| t.status == Status::Blocked && test.targets.contains(&t.target))
        .collect();
    if !blocked.is_empty() {
        check.status = Status::Blocked;
        check.reason = blocked
            .iter()
            .map(|t| format!("preflight: {}", t.reason))
            .collect::<Vec<_>>()
            .join("; ");
        let hints: Vec<&str> = blocked.iter().filter_map(|t| t.hint.as_deref()).collect();
        check.hint = (!hints.is_empty()).then(|| hints.join("; "));
        return Some(check);
    }
    None
}

/// Rewrite the run's HdrHistogram interval log from the windows of every test run so far, in
/// plan order. A failed write has stopped the run (through the run directory); one that could
/// not be rendered is logged, since the report carries the same timeline.
fn write_latency_log(
    run: &Run,
    plan: &Plan,
    outcomes: &BTreeMap<String, LoadOutcome>,
    run_start: tokio::time::Instant,
) {
    let started = std::time::SystemTime::now() - run_start.elapsed();
    let tests = plan.load_tests.iter().filter_map(|t| {
        let o = outcomes.get(&t.id)?;
        Some((t.id.as_str(), &o.measurements.windows))
    });
    let written = crate::metrics::interval_log::render(started, tests)
        .map_err(std::io::Error::other)
        .and_then(|text| {
            let name = crate::metrics::interval_log::LATENCY_LOG;
            run.dir.write_file(name, &text)
        });
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write the latency interval log");
    }
}

fn record_stop(report: &mut Report, stop: &StopReason, cancel: &CancellationToken) {
    match stop {
        StopReason::Cancelled => record_interrupt(report, cancel),
        StopReason::RequestLimit => {
            report.run.interrupted = true;
            report.run.stop_reason =
                Some("stopped by the plan's bound: limits.requests was reached".into());
        }
        StopReason::DurationLimit => {
            report.run.interrupted = true;
            report.run.stop_reason =
                Some("stopped by the plan's bound: limits.duration was reached".into());
        }
    }
}

/// Mark the run interrupted, with the generic reason; what a safety rule or a failed write
/// said replaces it in `Run::note_stop`.
fn record_interrupt(report: &mut Report, cancel: &CancellationToken) {
    report.run.interrupted = true;
    if report.run.stop_reason.is_none() {
        report.run.stop_reason = Some(if cancel.is_cancelled() {
            "interrupted (Ctrl-C or SIGTERM)".into()
        } else {
            "stopped by the plan's bound: limits.duration was reached".into()
        });
    }
}

fn pending_check(test: &LoadTest) -> CheckReport {
    CheckReport::not_run(
        &test.id,
        &test.name,
        CheckKind::Load,
        test.required,
        "not run yet",
    )
}

fn initial_report(plan: &Plan) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "shakedown".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: RunInfo {
            id: uuid::Uuid::new_v4().to_string(),
            plan: plan.name.clone(),
            plan_path: plan.source.display().to_string(),
            environment: format!("{:?}", plan.environment).to_lowercase(),
            seed: plan.seed,
            started_at: now_rfc3339(),
            finished_at: None,
            phase: Phase::Preflight,
            interrupted: false,
            stop_reason: None,
            write_failure: None,
            watch: None,
        },
        verdict: crate::status::Verdict::Incomplete,
        exit_code: crate::status::Verdict::Incomplete.exit_code(),
        reasons: Vec::new(),
        preflight: Vec::new(),
        checks: plan
            .load_tests
            .iter()
            .map(pending_check)
            .chain(plan.faults.tests.iter().map(faults::pending_fault_check))
            .chain(
                plan.verifications
                    .iter()
                    .map(verify_phase::pending_verify_check),
            )
            .collect(),
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The default run directory: `shakedown-runs/<UTC time>-<plan name>` under `base`.
pub fn default_run_dir(base: &Path, plan_name: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let name: String = plan_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    base.join(format!("{stamp}-{name}"))
}

/// Every check id of the plan, in the order the checks run (what `--only` selects from).
pub fn check_ids(plan: &Plan) -> Vec<&str> {
    plan.load_tests
        .iter()
        .map(|t| t.id.as_str())
        .chain(plan.faults.tests.iter().map(|t| t.id.as_str()))
        .chain(plan.verifications.iter().map(|v| v.id.as_str()))
        .collect()
}
