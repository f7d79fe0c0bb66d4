//! `shakedown hit URL`: the ad-hoc mode. The flags become a one-step plan, built in memory and
//! compiled by the same compiler as a plan file, and run by the same engine; the run directory
//! is a temporary one unless `--out` is given.
//!
//! Without `--rate` it is the closed model (`-c` virtual users, each waiting for its previous
//! response, for `-d` or until `-n` requests); with `--rate` it is the open model (`rate` sends
//! per second on a fixed schedule, at most `-c` in flight). The summary is a few plain lines, or
//! with `--json` one JSON object ([`HitSummary`]); the exit code is 1 when a `--threshold` fails
//! or not one request succeeded.
//!
//! The load ends at `-d`: requests in flight then are cancelled and counted as `cancelled`
//! (a server that never answers shows as cancelled requests and no success, not as a run that
//! lasts the request timeout). Response bodies are counted (`bytes_received`) and dropped as
//! they arrive, since `hit` checks none.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::cli_hit_secrets::shown_url;
use crate::workers::Workers;
use shakedown_core::engine::{self, RunOptions};
use shakedown_core::metrics::summary::LoadSummary;
use shakedown_core::metrics::windows::{WINDOW_SIGFIG, Windows};

/// Arguments of `hit`.
#[derive(Debug, Args)]
pub struct HitArgs {
    /// The URL to send every request to (http or https).
    pub url: String,
    /// Connections: virtual users in the closed model, the most requests in flight with --rate
    /// (at most 100000).
    #[arg(short = 'c', long = "connections", default_value_t = 50)]
    pub connections: u32,
    /// How long to send, e.g. 10s or 1m (default 10s unless -n is given).
    #[arg(short = 'd', long)]
    pub duration: Option<String>,
    /// Send exactly this many requests, then stop. With -d too, only with --rate (the schedule
    /// of N sends within -d).
    #[arg(short = 'n', long = "requests")]
    pub requests: Option<u64>,
    /// The open model: send this many requests per second on a fixed schedule, timing each from
    /// its intended start.
    #[arg(long)]
    pub rate: Option<f64>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The request method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// A request body, sent as is.
    #[arg(long)]
    pub body: Option<String>,
    /// Speak HTTP/2 (with prior knowledge on http, negotiated on https).
    #[arg(long)]
    pub http2: bool,
    /// Print one JSON object (requests, rate, latency percentiles in ms, errors) on stdout.
    #[arg(long)]
    pub json: bool,
    /// A pass criterion in the plan's threshold syntax, e.g. `p(99) < 50ms` (repeatable); the
    /// exit code is 1 if any fails.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// The timeout of each request.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Worker threads that send the load (default: one per core, or half the cores, at least
    /// one, when the target is on this machine and needs cores too).
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
    /// Keep the run directory (report, latency.hlog) here instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The machine-readable summary of a `hit` run (`--json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitSummary {
    /// The URL hit.
    pub url: String,
    /// "closed" (`-c` users back to back) or "open" (`--rate`).
    pub model: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed: no response, or a status outside 2xx.
    pub failures: u64,
    /// Requests that got no response at all (connect errors, timeouts).
    pub errors: u64,
    /// Requests still in flight at the end of `-d` (or on Ctrl-C), cancelled there: not
    /// counted in `requests`, `failures` or the latencies, since they got no answer.
    pub cancelled: u64,
    /// Bytes of response bodies received. `hit` checks no body, so bodies are counted and
    /// dropped as they arrive, never held.
    pub bytes_received: u64,
    /// Responses by status class: "2xx", "4xx", "5xx", "error".
    pub status_classes: std::collections::BTreeMap<String, u64>,
    /// Wall time of the load, seconds.
    pub duration_s: f64,
    /// Requests per second over that time.
    pub requests_per_second: f64,
    /// Response time percentiles in milliseconds (open model: from each intended start).
    pub latency_ms: HitLatency,
    /// Open model only: the rate asked for, per second.
    pub target_rate: Option<f64>,
    /// Open model only: sends that could not start on time.
    pub dropped: Option<u64>,
    /// Each `--threshold` with what was measured.
    pub thresholds: Vec<HitThreshold>,
    /// Warnings about the figures (dropped sends, a generator that was the bottleneck).
    pub warnings: Vec<String>,
    /// Why the run failed whatever its thresholds: not one request succeeded, so nothing was
    /// observed to work. None when one did.
    #[serde(default)]
    pub nothing_succeeded: Option<String>,
    /// Whether every threshold held (true when there are none) and a request succeeded.
    pub passed: bool,
    /// Worker threads that sent the load.
    pub threads: usize,
    /// Whether `threads` is half the cores because the target is on this machine (the default
    /// without `--threads`).
    pub local_target: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HitLatency {
    /// Minimum.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile (from the per-second histograms, two significant digits).
    pub p99_9: f64,
    /// Maximum.
    pub max: f64,
}

/// One `--threshold` and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitThreshold {
    /// The expression as given.
    pub expression: String,
    /// What was measured, in `unit`.
    pub measured: Option<f64>,
    /// "ms", "count", "ratio" or "value".
    pub unit: String,
    /// Whether it held.
    pub passed: bool,
}

/// The id of the one load test of a hit plan (the key of its windows in the run's result, and
/// their tag in latency.hlog).
pub(crate) const TEST_ID: &str = "hit";

/// Run `hit` and return the exit code: 0 when every threshold held and a request succeeded, 1
/// otherwise.
pub fn hit(args: &HitArgs, progress: bool) -> anyhow::Result<u8> {
    let (text, secrets) = crate::cli_hit_plan::plan_text(args)?;
    let plan = shakedown_plan::compile_str(&text, Path::new("hit"), &|var| secrets.lookup(var))
        .map_err(anyhow::Error::new)?;
    let redactor = shakedown_plan::redact::Redactor::new(&plan.secrets);
    shakedown_plan::redact::stream::install(redactor.clone());
    let (dir, temporary) = match &args.out {
        Some(dir) => (dir.clone(), false),
        None => (temp_run_dir(), true),
    };
    let options = RunOptions {
        out_dir: dir.clone(),
        only: None,
        progress,
        before_settle: None,
        faults: engine::FaultOptions {
            allow_production: false,
            kill_file: None,
            guard_exe: None,
        },
    };
    let workers = Workers::choose(args.threads, [args.url.as_str()]);
    let runtime = workers
        .runtime()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let ctrl_c = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            })
        };
        let result = engine::run(Arc::new(plan), options, cancel).await;
        ctrl_c.abort();
        result
    });
    let outcome = result.and_then(|result| summarise(args, workers, &result));
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (summary, blocked) = outcome?;
    if let Some(reason) = blocked {
        anyhow::bail!("{reason}");
    }
    if args.json {
        println!("{}", redactor.json_line(&summary)?);
    } else {
        println!("{}", redactor.redact(&human(&summary)));
    }
    Ok(if summary.passed { 0 } else { 1 })
}

fn temp_run_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("shakedown-hit-{}-{nanos}", std::process::id()))
}

/// The summary of a finished run, or why it could not run (a blocked target).
fn summarise(
    args: &HitArgs,
    workers: Workers,
    result: &engine::RunResult,
) -> anyhow::Result<(HitSummary, Option<String>)> {
    let check = result
        .report
        .checks
        .first()
        .context("the hit plan has no check")?;
    let Some(metrics) = &check.metrics else {
        let reason = format!("{} did not run: {}", shown_url(&args.url), check.reason);
        let hint = check
            .hint
            .clone()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        return Ok((empty(args, workers), Some(format!("{reason}{hint}"))));
    };
    let histogram = result.windows.get(TEST_ID).and_then(merged_latency);
    Ok((
        summary(
            args,
            workers,
            metrics,
            &check.thresholds,
            histogram.as_ref(),
        ),
        None,
    ))
}

fn empty(args: &HitArgs, workers: Workers) -> HitSummary {
    summary(args, workers, &LoadSummary::default(), &[], None)
}

fn summary(
    args: &HitArgs,
    workers: Workers,
    m: &LoadSummary,
    thresholds: &[shakedown_core::check::ThresholdResult],
    histogram: Option<&Histogram<u64>>,
) -> HitSummary {
    let l = &m.latency_ms;
    let quantile = |q: f64, fallback: f64| match histogram {
        Some(h) if !h.is_empty() => h.value_at_quantile(q) as f64 / 1000.0,
        _ => fallback,
    };
    // `hit` measures; only the thresholds given with `--threshold` judge it, not the default
    // a plan's test gets.
    let thresholds: Vec<HitThreshold> = thresholds
        .iter()
        .filter(|t| !t.default)
        .map(|t| HitThreshold {
            expression: t.expression.clone(),
            measured: t.measured,
            unit: t.unit.clone(),
            passed: t.passed,
        })
        .collect();
    let nothing_succeeded = m.nothing_succeeded();
    HitSummary {
        url: shown_url(&args.url),
        model: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        requests: m.requests,
        failures: m.failures,
        errors: m.errors,
        cancelled: m.cancelled,
        bytes_received: m.bytes_received,
        status_classes: status_classes(m),
        duration_s: m.duration_ms / 1000.0,
        requests_per_second: m.requests_per_second,
        latency_ms: HitLatency {
            min: l.min,
            mean: l.mean,
            p50: l.p50,
            p90: l.p90,
            p99: l.p99,
            p99_9: quantile(0.999, l.max).min(l.max),
            max: l.max,
        },
        target_rate: m.open_model.as_ref().map(|o| o.target_rate),
        dropped: m.open_model.as_ref().map(|o| o.dropped),
        passed: thresholds.iter().all(|t| t.passed) && nothing_succeeded.is_none(),
        nothing_succeeded,
        thresholds,
        warnings: m.warnings.clone(),
        threads: workers.threads,
        local_target: workers.local_targets,
    }
}

/// Responses by status class over every step.
fn status_classes(m: &LoadSummary) -> std::collections::BTreeMap<String, u64> {
    let mut all = std::collections::BTreeMap::new();
    for step in &m.steps {
        for (class, count) in &step.status_classes {
            *all.entry(class.clone()).or_insert(0) += count;
        }
    }
    all
}

/// Every per-second window of the hit test merged into one histogram (microseconds, at the
/// windows' two significant digits); None if it cannot be built.
fn merged_latency(windows: &Windows) -> Option<Histogram<u64>> {
    let mut merged: Histogram<u64> = Histogram::new(WINDOW_SIGFIG).ok()?;
    for (_, window) in windows.iter() {
        for value in window.latency().iter_recorded() {
            merged
                .record_n(value.value_iterated_to(), u64::from(value.count_at_value()))
                .ok()?;
        }
    }
    Some(merged)
}

/// The worker threads, and why there are that many.
fn threads(s: &HitSummary) -> String {
    let n = s.threads;
    let plural = if n == 1 { "" } else { "s" };
    if s.local_target {
        format!("{n} thread{plural}: the target is on this machine, half the cores are left to it")
    } else {
        format!("{n} thread{plural}")
    }
}

/// The plain summary: a few lines, like wrk's.
fn human(s: &HitSummary) -> String {
    let l = &s.latency_ms;
    let mut out = format!(
        "{} {} requests in {:.2}s, {:.1} requests/s ({} model, {})\n\
         latency ms: min {:.2}  mean {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n\
         failures {}  errors {}",
        s.url,
        s.requests,
        s.duration_s,
        s.requests_per_second,
        s.model,
        threads(s),
        l.min,
        l.mean,
        l.p50,
        l.p90,
        l.p99,
        l.p99_9,
        l.max,
        s.failures,
        s.errors,
    );
    for (class, count) in &s.status_classes {
        out.push_str(&format!("  {class} {count}"));
    }
    if s.cancelled > 0 {
        out.push_str(&format!("  cancelled {}", s.cancelled));
    }
    out.push_str(&format!("\nbody bytes received {}", s.bytes_received));
    if let (Some(rate), Some(dropped)) = (s.target_rate, s.dropped) {
        out.push_str(&format!("\ntarget rate {rate:.1}/s, dropped {dropped}"));
    }
    for w in &s.warnings {
        out.push_str(&format!("\nwarning: {w}"));
    }
    if let Some(reason) = &s.nothing_succeeded {
        out.push_str(&format!("\nFAIL {reason}"));
    }
    for t in &s.thresholds {
        let measured = t
            .measured
            .map(|v| shakedown_core::check::format_measured(v, &t.unit))
            .unwrap_or_else(|| "not measured".into());
        let verdict = if t.passed { "ok  " } else { "FAIL" };
        out.push_str(&format!(
            "\n{verdict} {} (measured {measured})",
            t.expression
        ));
    }
    out
}
