//! The testbed's command line: `stack` (the API and N workers as child processes, driven over
//! stdin), `api` and `worker` (one part each, as a process driver starts them).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::{
    ArtifactTarget, CanarySettings, DEFAULT_BUCKET, DEFAULT_CANARY_TIMEOUT_MS, DEFAULT_LEASE_MS,
    DEFAULT_STEP_MS, RunsApi, Secrets, Settings, redact_url_password,
};
use crate::defects::{Defect, DefectSet};

/// Arguments of the testbed command.
#[derive(Debug, clap::Args)]
pub struct TestbedArgs {
    /// Which part to run.
    #[command(subcommand)]
    pub command: TestbedCommand,
}

/// The testbed's parts.
#[derive(Debug, clap::Subcommand)]
pub enum TestbedCommand {
    /// Start the API and N workers as child processes; print their addresses as JSON on the first
    /// line, then obey control commands on stdin.
    Stack(StackArgs),
    /// Run the API alone.
    Api(ApiArgs),
    /// Run one worker.
    Worker(WorkerArgs),
    /// A server that answers at once but stalls exactly once (the latency ground truth).
    #[command(hide = true)]
    Stall(crate::stall::StallArgs),
}

/// Storage, defect and timing options shared by every part.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Database URL: `sqlite://PATH` or `postgres://...` (default: SQLite in the data dir).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// S3-compatible endpoint for artifacts (default: a local folder in the data dir).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Artifact bucket.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_BUCKET)]
    pub s3_bucket: String,
    /// Switch on a seeded defect (repeatable; or comma-separated in `TESTBED_DEFECTS`, which is
    /// how a process driver passes them).
    #[arg(
        long = "defect",
        value_name = "NAME",
        env = "TESTBED_DEFECTS",
        value_delimiter = ','
    )]
    pub defects: Vec<Defect>,
    /// Milliseconds per work step.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STEP_MS)]
    pub step_ms: u64,
    /// Milliseconds a claimed run's lease lasts without a heartbeat.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LEASE_MS)]
    pub lease_ms: u64,
    /// Redis URL (`redis://HOST:PORT[/DB]`): each worker keeps its boot info under
    /// `testbed:worker:<index or boot_id>:boot` there (default: no Redis).
    #[arg(long, value_name = "URL", env = "TESTBED_REDIS_URL")]
    pub redis_url: Option<String>,
    /// The URL the canary endpoint calls (default: the API's own
    /// `POST /api/v1/canary/upstream`).
    #[arg(long, value_name = "URL", env = "TESTBED_CANARY_UPSTREAM")]
    pub canary_upstream: Option<String>,
    /// Milliseconds the canary waits for its upstream [default: 5000].
    #[arg(long, value_name = "N", env = "TESTBED_CANARY_TIMEOUT_MS")]
    pub canary_timeout_ms: Option<OptionalMillis>,
    /// Which reads of runs the API serves: `by-key` (by id and `GET /api/v1/runs?key=K`) or
    /// `by-id` (by id only; the list by key answers 404). Workers ignore it.
    #[arg(
        long,
        value_name = "MODE",
        env = "TESTBED_RUNS_API",
        default_value = "by-key"
    )]
    pub runs_api: RunsApi,
}

impl StoreArgs {
    /// Validate into [`Settings`] for `data_dir`, with the secrets from the environment.
    pub fn settings(&self, data_dir: &Path) -> anyhow::Result<Settings> {
        if !(100..=600_000).contains(&self.lease_ms) {
            anyhow::bail!(
                "--lease-ms must be between 100 and 600000, got {}",
                self.lease_ms
            );
        }
        if self.step_ms > 60_000 {
            anyhow::bail!("--step-ms must be at most 60000, got {}", self.step_ms);
        }
        if self.s3_bucket.is_empty() || self.s3_bucket.contains('/') {
            anyhow::bail!(
                "--s3-bucket must be a non-empty name without '/', got {:?}",
                self.s3_bucket
            );
        }
        let artifacts = match &self.s3_endpoint {
            Some(endpoint) => ArtifactTarget::S3 {
                endpoint: endpoint.clone(),
            },
            None => ArtifactTarget::Local {
                root: Settings::default_artifact_root(data_dir),
            },
        };
        let database_url = self
            .database
            .clone()
            .unwrap_or_else(|| Settings::default_database_url(data_dir));
        crate::store::Backend::from_url(&database_url)?;
        let redis_url = self.validated_redis_url()?;
        let canary = self.canary_settings()?;
        Ok(Settings {
            data_dir: data_dir.to_path_buf(),
            database_url,
            artifacts,
            bucket: self.s3_bucket.clone(),
            defects: DefectSet::new(self.defects.iter().copied()),
            step: Duration::from_millis(self.step_ms),
            lease: Duration::from_millis(self.lease_ms),
            redis_url,
            canary,
            runs_api: self.runs_api,
            secrets: Secrets::from_env(),
        })
    }

    /// The Redis URL, if one was given (an empty value, as a plan's `${VAR:-}` gives, is none).
    fn validated_redis_url(&self) -> anyhow::Result<Option<String>> {
        let Some(url) = self.redis_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        if let Err(err) = redis::Client::open(url) {
            anyhow::bail!(
                "--redis-url must be a redis://HOST:PORT[/DB] URL, got {:?}: {err}",
                redact_url_password(url)
            );
        }
        Ok(Some(url.to_owned()))
    }

    /// The canary's upstream and timeout.
    fn canary_settings(&self) -> anyhow::Result<CanarySettings> {
        let timeout_ms = self
            .canary_timeout_ms
            .and_then(|ms| ms.0)
            .unwrap_or(DEFAULT_CANARY_TIMEOUT_MS);
        if !(1..=120_000).contains(&timeout_ms) {
            anyhow::bail!("--canary-timeout-ms must be between 1 and 120000, got {timeout_ms}");
        }
        let upstream = match self.canary_upstream.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Some(url.to_owned()),
                Ok(parsed) => anyhow::bail!(
                    "--canary-upstream must be an http:// or https:// URL, got scheme {:?} in {url:?}",
                    parsed.scheme()
                ),
                Err(err) => anyhow::bail!("--canary-upstream is not a URL ({err}): {url:?}"),
            },
        };
        Ok(CanarySettings {
            upstream,
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// A number of milliseconds where an empty value (as a plan's `${VAR:-}` gives an environment
/// variable) means "the default".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalMillis(pub Option<u64>);

impl std::str::FromStr for OptionalMillis {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Ok(OptionalMillis(None)),
            n => n
                .parse()
                .map(|ms| OptionalMillis(Some(ms)))
                .map_err(|_| format!("expected a number of milliseconds, got {s:?}")),
        }
    }
}

/// The same options, as arguments for a child process.
pub fn settings_to_args(settings: &Settings) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--data-dir".into(),
        settings.data_dir.clone().into(),
        "--database".into(),
        settings.database_url.clone().into(),
        "--s3-bucket".into(),
        settings.bucket.clone().into(),
        "--step-ms".into(),
        settings.step.as_millis().to_string().into(),
        "--lease-ms".into(),
        settings.lease.as_millis().to_string().into(),
    ];
    if let ArtifactTarget::S3 { endpoint } = &settings.artifacts {
        args.extend(["--s3-endpoint".into(), endpoint.into()]);
    }
    if let Some(url) = &settings.redis_url {
        args.extend(["--redis-url".into(), url.into()]);
    }
    if let Some(url) = &settings.canary.upstream {
        args.extend(["--canary-upstream".into(), url.into()]);
    }
    args.extend([
        "--canary-timeout-ms".into(),
        settings.canary.timeout.as_millis().to_string().into(),
    ]);
    args.extend(["--runs-api".into(), settings.runs_api.as_str().into()]);
    for defect in settings.defects.iter() {
        args.extend(["--defect".into(), defect.name().into()]);
    }
    args
}

/// `testbed stack`.
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// Number of worker processes.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,
    /// Data directory (default: a temporary directory, removed on exit).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// API port on 127.0.0.1 (0: a free port).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,
    /// Storage, defects and timing.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `testbed api`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Data directory (SQLite file, outage marker, local artifacts).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Stop when the parent process exits.
    #[arg(long, hide = true)]
    pub exit_with_parent: bool,
    /// Storage, defects and timing.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `testbed worker`.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Data directory (SQLite file, outage marker, local artifacts).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// This worker's index in its stack: it names the worker's Redis boot-info key
    /// (`testbed:worker:<index>:boot`; without it, the boot id does).
    #[arg(long, value_name = "N")]
    pub worker_index: Option<usize>,
    /// Stop when the parent process exits.
    #[arg(long, hide = true)]
    pub exit_with_parent: bool,
    /// Storage, defects and timing.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// How to start this program again as a child process (for workers and the API).
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The executable.
    pub program: PathBuf,
    /// Arguments that precede the testbed's own (e.g. `["testbed"]` inside `shakedown`).
    pub prefix: Vec<OsString>,
}

impl Launcher {
    /// The current executable, with `prefix` before the testbed's arguments.
    pub fn current_exe(prefix: &[&str]) -> Launcher {
        Launcher {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("shakedown")),
            prefix: prefix.iter().map(OsString::from).collect(),
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TESTBED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run the testbed command to completion.
pub fn run(args: TestbedArgs, launcher: Launcher) -> anyhow::Result<()> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(run_async(args, launcher));
    // A blocking read of stdin may still be parked; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    outcome
}

async fn run_async(args: TestbedArgs, launcher: Launcher) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    match args.command {
        TestbedCommand::Stack(stack) => crate::stack::run(stack, launcher).await,
        TestbedCommand::Api(api) => {
            if !api.listen.ip().is_loopback() {
                anyhow::bail!(
                    "--listen must be a loopback address (127.0.0.1 or ::1), got {}",
                    api.listen
                );
            }
            let settings = api.store.settings(&api.data_dir)?;
            std::fs::create_dir_all(&api.data_dir)
                .with_context(|| format!("creating {}", api.data_dir.display()))?;
            crate::lifecycle::cancel_on_signals(shutdown.clone())?;
            if api.exit_with_parent {
                crate::lifecycle::cancel_when_orphaned(shutdown.clone());
            }
            crate::api::run(settings, api.listen, shutdown).await
        }
        TestbedCommand::Worker(worker) => {
            let settings = worker.store.settings(&worker.data_dir)?;
            std::fs::create_dir_all(&worker.data_dir)
                .with_context(|| format!("creating {}", worker.data_dir.display()))?;
            crate::lifecycle::cancel_on_signals(shutdown.clone())?;
            if worker.exit_with_parent {
                crate::lifecycle::cancel_when_orphaned(shutdown.clone());
            }
            crate::worker::run(settings, worker.worker_index, shutdown).await
        }
        TestbedCommand::Stall(stall) => {
            crate::lifecycle::cancel_on_signals(shutdown.clone())?;
            if stall.exit_with_parent {
                crate::lifecycle::cancel_when_orphaned(shutdown.clone());
            }
            crate::stall::run(stall, shutdown).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Parsed {
        #[command(flatten)]
        store: StoreArgs,
    }

    fn settings(args: &[&str]) -> anyhow::Result<Settings> {
        let parsed =
            Parsed::try_parse_from(std::iter::once("testbed").chain(args.iter().copied()))?;
        parsed.store.settings(Path::new("data"))
    }

    #[test]
    fn redis_and_canary_settings_are_validated_and_passed_on() {
        let plain = settings(&[]).unwrap();
        assert_eq!(plain.redis_url, None);
        assert_eq!(plain.canary.upstream, None);
        assert_eq!(plain.canary.timeout, Duration::from_secs(5));
        let set = settings(&[
            "--redis-url",
            "redis://127.0.0.1:6390/2",
            "--canary-upstream",
            "http://127.0.0.1:9/llm",
            "--canary-timeout-ms",
            "250",
        ])
        .unwrap();
        assert_eq!(set.redis_url.as_deref(), Some("redis://127.0.0.1:6390/2"));
        let args: Vec<String> = settings_to_args(&set)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for pair in [
            ["--redis-url", "redis://127.0.0.1:6390/2"],
            ["--canary-upstream", "http://127.0.0.1:9/llm"],
            ["--canary-timeout-ms", "250"],
        ] {
            assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
        }
        let empty = settings(&["--redis-url", "", "--canary-timeout-ms", ""]).unwrap();
        assert_eq!(empty.redis_url, None);
        assert_eq!(empty.canary.timeout, Duration::from_secs(5));
    }

    #[test]
    fn runs_api_defaults_to_by_key_and_is_passed_on() {
        // Only when the environment does not set it (clap reads `TESTBED_RUNS_API`).
        if std::env::var_os("TESTBED_RUNS_API").is_none() {
            assert_eq!(settings(&[]).unwrap().runs_api, RunsApi::ByKey);
        }
        let by_id = settings(&["--runs-api", "by-id"]).unwrap();
        assert_eq!(by_id.runs_api, RunsApi::ById);
        let args: Vec<String> = settings_to_args(&by_id)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--runs-api", "by-id"]),
            "{args:?}"
        );
        let message = settings(&["--runs-api", "by-name"])
            .unwrap_err()
            .to_string();
        assert!(message.contains("--runs-api"), "{message}");
    }

    #[test]
    fn bad_redis_and_canary_values_name_the_flag() {
        for (args, flag) in [
            (&["--redis-url", "http://x"][..], "--redis-url"),
            (&["--canary-upstream", "ftp://x"][..], "--canary-upstream"),
            (&["--canary-upstream", "not a url"][..], "--canary-upstream"),
            (&["--canary-timeout-ms", "0"][..], "--canary-timeout-ms"),
            (&["--canary-timeout-ms", "soon"][..], "--canary-timeout-ms"),
        ] {
            let message = format!("{:#}", settings(args).unwrap_err());
            assert!(message.contains(flag), "{args:?}: {message}");
        }
    }
}
