//! `shakedown diff OLD NEW`: two reports compared check by check and step by step, with
//! regressions flagged against rules (by default: p95 up by more than 10%).
//!
//! Checks are matched by id and steps by name; what exists on one side only is listed, never
//! guessed at, so reports of two different plans compare what matches. The comparison is computed
//! once into a [`ReportDiff`], which renders as Markdown (for a PR comment) or JSON.

use serde::Serialize;

use crate::metrics::summary::LatencySummary;
use crate::report::model::{CheckReport, Report};
use crate::status::Status;

pub use crate::report::diff_markdown::markdown;

/// A metric that `diff` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median latency, ms.
    P50,
    /// 95th percentile latency, ms.
    P95,
    /// 99th percentile latency, ms.
    P99,
    /// Failed requests over requests sent.
    ErrorRate,
    /// Requests per second over the check.
    Throughput,
    /// A fault check's time to recover, ms.
    Recovery,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 6] = [
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::ErrorRate,
        Metric::Throughput,
        Metric::Recovery,
    ];

    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error_rate",
            Metric::Throughput => "throughput",
            Metric::Recovery => "recovery",
        }
    }

    /// Parse a metric name.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether a larger value is worse (latency, errors) or better (throughput).
    pub(crate) fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Throughput)
    }

    fn is_latency(self) -> bool {
        matches!(self, Metric::P50 | Metric::P95 | Metric::P99)
    }

    pub(crate) fn format(self, value: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{:.2}%", value * 100.0),
            Metric::Throughput => format!("{value:.1} req/s"),
            Metric::Recovery => format!("{:.1}s", value / 1000.0),
            _ => format!("{value:.1}ms"),
        }
    }
}

/// A regression rule: `metric` worse by more than `percent` percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rule {
    /// The metric.
    pub metric: Metric,
    /// How much worse it may get, in percent of the old value.
    pub percent: f64,
}

impl Rule {
    /// Parse `p95=10%` (the `%` is optional).
    pub fn parse(text: &str) -> Result<Rule, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("rule {text:?} must look like p95=10%"))?;
        let metric = Metric::parse(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!(
                "rule {text:?}: unknown metric {name:?}; choose one of {}",
                names.join(", ")
            )
        })?;
        let percent: f64 = value
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("rule {text:?}: {value:?} is not a percentage"))?;
        if !percent.is_finite() || percent < 0.0 {
            return Err(format!("rule {text:?}: the percentage must be 0 or more"));
        }
        Ok(Rule { metric, percent })
    }
}

/// How `diff` decides what is a regression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffOptions {
    /// The rules; by default `p95=10%`.
    pub rules: Vec<Rule>,
    /// Latency changes smaller than this many milliseconds are noise, never a regression.
    pub noise_ms: f64,
}

impl Default for DiffOptions {
    fn default() -> DiffOptions {
        DiffOptions {
            rules: vec![Rule {
                metric: Metric::P95,
                percent: 10.0,
            }],
            noise_ms: 1.0,
        }
    }
}

/// One metric on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Which metric.
    pub metric: Metric,
    /// Old value.
    pub old: f64,
    /// New value.
    pub new: f64,
    /// Relative change in percent (None when the old value is 0 and the new one is not).
    pub percent: Option<f64>,
    /// Whether a rule flags it.
    pub regression: bool,
}

/// The metrics of one scope: the whole check, or one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeDiff {
    /// `*` for the whole check, else the step name.
    pub scope: String,
    /// The metrics, in display order.
    pub changes: Vec<Change>,
}

/// One check present in both reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckDiff {
    /// Check id.
    pub id: String,
    /// Name in the new report.
    pub name: String,
    /// Status in the old report.
    pub old_status: Status,
    /// Status in the new report.
    pub new_status: Status,
    /// Whole check first, then steps present on both sides.
    pub scopes: Vec<ScopeDiff>,
    /// Steps measured only in the old report.
    pub steps_only_in_old: Vec<String>,
    /// Steps measured only in the new report.
    pub steps_only_in_new: Vec<String>,
    /// Why it could not be compared, if it could not (no metrics on one side).
    pub note: Option<String>,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Where it was read from.
    pub source: String,
    /// Plan name.
    pub plan: String,
    /// Run id.
    pub run_id: String,
    /// Verdict.
    pub verdict: String,
    /// Start time.
    pub started_at: String,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportDiff {
    /// The old report.
    pub old: Side,
    /// The new report.
    pub new: Side,
    /// The rules applied.
    pub options: DiffOptions,
    /// Checks in both reports, in the new report's order.
    pub checks: Vec<CheckDiff>,
    /// Check ids only in the old report.
    pub checks_only_in_old: Vec<String>,
    /// Check ids only in the new report.
    pub checks_only_in_new: Vec<String>,
    /// Every regression, in plain words.
    pub regressions: Vec<String>,
}

impl ReportDiff {
    /// Whether any rule flagged a regression (the exit code is then 1).
    pub fn regressed(&self) -> bool {
        !self.regressions.is_empty()
    }
}

fn side(source: &str, report: &Report) -> Side {
    Side {
        source: source.to_string(),
        plan: report.run.plan.clone(),
        run_id: report.run.id.clone(),
        verdict: report.verdict.to_string(),
        started_at: report.run.started_at.clone(),
    }
}

/// Compare `old` with `new`.
pub fn diff(
    (old_source, old): (&str, &Report),
    (new_source, new): (&str, &Report),
    options: &DiffOptions,
) -> ReportDiff {
    let mut out = ReportDiff {
        old: side(old_source, old),
        new: side(new_source, new),
        options: options.clone(),
        checks: Vec::new(),
        checks_only_in_old: old
            .checks
            .iter()
            .filter(|c| new.check(&c.id).is_none())
            .map(|c| c.id.clone())
            .collect(),
        checks_only_in_new: Vec::new(),
        regressions: Vec::new(),
    };
    for n in &new.checks {
        let Some(o) = old.check(&n.id) else {
            out.checks_only_in_new.push(n.id.clone());
            continue;
        };
        let check = check_diff(o, n, options);
        if o.status == Status::Pass && matches!(n.status, Status::Fail | Status::Blocked) {
            out.regressions
                .push(format!("{}: status {} -> {}", n.id, o.status, n.status));
        }
        for scope in &check.scopes {
            for c in scope.changes.iter().filter(|c| c.regression) {
                let at = if scope.scope == "*" {
                    n.id.clone()
                } else {
                    format!("{} step {}", n.id, scope.scope)
                };
                out.regressions.push(format!(
                    "{at}: {} {} -> {} ({})",
                    c.metric.name(),
                    c.metric.format(c.old),
                    c.metric.format(c.new),
                    percent_text(c.percent)
                ));
            }
        }
        out.checks.push(check);
    }
    out
}

fn check_diff(old: &CheckReport, new: &CheckReport, options: &DiffOptions) -> CheckDiff {
    let mut check = CheckDiff {
        id: new.id.clone(),
        name: new.name.clone(),
        old_status: old.status,
        new_status: new.status,
        scopes: Vec::new(),
        steps_only_in_old: Vec::new(),
        steps_only_in_new: Vec::new(),
        note: None,
    };
    let (Some(om), Some(nm)) = (&old.metrics, &new.metrics) else {
        let side = match (&old.metrics, &new.metrics) {
            (None, None) => "either report",
            (None, Some(_)) => "the old report",
            _ => "the new report",
        };
        check.note = Some(format!("no measurements in {side}"));
        return check;
    };
    let whole = |c: &CheckReport, m: &crate::metrics::summary::LoadSummary| Figures {
        latency: m.latency_ms.clone(),
        requests: m.requests,
        failures: m.failures,
        throughput: Some(m.requests_per_second),
        recovery_ms: c.fault.as_ref().and_then(|f| f.recovery.recovery_ms),
    };
    check
        .scopes
        .push(scope_diff("*", &whole(old, om), &whole(new, nm), options));
    for ns in &nm.steps {
        match om.steps.iter().find(|s| s.step == ns.step) {
            Some(os) => {
                let figures = |s: &crate::metrics::summary::StepSummary| Figures {
                    latency: s.latency_ms.clone(),
                    requests: s.requests,
                    failures: s.failures,
                    throughput: None,
                    recovery_ms: None,
                };
                check
                    .scopes
                    .push(scope_diff(&ns.step, &figures(os), &figures(ns), options));
            }
            None => check.steps_only_in_new.push(ns.step.clone()),
        }
    }
    check.steps_only_in_old = om
        .steps
        .iter()
        .filter(|os| !nm.steps.iter().any(|ns| ns.step == os.step))
        .map(|s| s.step.clone())
        .collect();
    check
}

/// The figures of one scope.
struct Figures {
    latency: LatencySummary,
    requests: u64,
    failures: u64,
    throughput: Option<f64>,
    recovery_ms: Option<f64>,
}

impl Figures {
    fn value(&self, metric: Metric) -> Option<f64> {
        let measured = self.latency.count > 0;
        match metric {
            Metric::P50 => measured.then_some(self.latency.p50),
            Metric::P95 => measured.then_some(self.latency.p95),
            Metric::P99 => measured.then_some(self.latency.p99),
            Metric::ErrorRate => {
                (self.requests > 0).then(|| self.failures as f64 / self.requests as f64)
            }
            Metric::Throughput => self.throughput,
            Metric::Recovery => self.recovery_ms,
        }
    }
}

fn scope_diff(scope: &str, old: &Figures, new: &Figures, options: &DiffOptions) -> ScopeDiff {
    let changes = Metric::ALL
        .into_iter()
        .filter_map(|metric| {
            let (o, n) = (old.value(metric)?, new.value(metric)?);
            let percent = if o == 0.0 {
                (n == 0.0).then_some(0.0)
            } else {
                Some((n - o) / o * 100.0)
            };
            let regression = options
                .rules
                .iter()
                .filter(|r| r.metric == metric)
                .any(|r| is_regression(metric, o, n, percent, r.percent, options.noise_ms));
            Some(Change {
                metric,
                old: o,
                new: n,
                percent,
                regression,
            })
        })
        .collect();
    ScopeDiff {
        scope: scope.to_string(),
        changes,
    }
}

fn is_regression(
    metric: Metric,
    old: f64,
    new: f64,
    percent: Option<f64>,
    allowed: f64,
    noise_ms: f64,
) -> bool {
    if metric.is_latency() && (new - old).abs() < noise_ms {
        return false;
    }
    let worse = if metric.higher_is_worse() {
        new > old
    } else {
        new < old
    };
    if !worse {
        return false;
    }
    match percent {
        Some(p) => p.abs() > allowed,
        // From zero to something: infinitely worse.
        None => true,
    }
}

pub(crate) fn percent_text(percent: Option<f64>) -> String {
    match percent {
        Some(p) if p.abs() < 0.05 => "±0%".to_string(),
        Some(p) => format!("{p:+.1}%"),
        None => "new".to_string(),
    }
}
