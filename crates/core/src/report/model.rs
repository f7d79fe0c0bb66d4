//! The one `Report` model, computed once; every exporter only renders it.
//!
//! `report.json` is this struct serialised, and `schema/report.schema.json` is its contract:
//! a top-level `verdict`, and a `checks` array whose entries carry `id`, `name`, `status`,
//! `reason` and their metrics.

use serde::{Deserialize, Serialize};

use crate::ledger::summary::LedgerSummary;
use crate::metrics::summary::LoadSummary;
use crate::status::{Status, Verdict};
use shakedown_plan::model::LedgerClass;

/// The report's schema version; bump it on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of the report format.
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: ToolInfo,
    /// What ran, when, and how far it got.
    pub run: RunInfo,
    /// GO, NO-GO, INCOMPLETE or ABORTED.
    pub verdict: Verdict,
    /// The exit code that goes with the verdict.
    pub exit_code: u8,
    /// The verdict's reasons in plain words, most important first.
    pub reasons: Vec<String>,
    /// Preflight result per target.
    pub preflight: Vec<TargetCheck>,
    /// One entry per check, in plan order.
    pub checks: Vec<CheckReport>,
}

/// The tool's name and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Always "shakedown".
    pub name: String,
    /// The crate version.
    pub version: String,
}

/// Phases of a run, in order. A report written mid-run says which phase it was written after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Targets checked.
    Preflight,
    /// Load tests ran.
    Load,
    /// Tracked work polled to terminal states.
    Settle,
    /// Ledger classified and thresholds evaluated.
    Verify,
    /// The run finished (or was interrupted) and this is the final report.
    Complete,
}

/// Facts about the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// A unique id of this run. `uuid()` in templates mixes it with the seed, so idempotency
    /// keys differ between runs against the same long-lived target.
    pub id: String,
    /// The plan's name.
    pub plan: String,
    /// The plan file.
    pub plan_path: String,
    /// `local`, `staging` or `production`.
    pub environment: String,
    /// The seed used for every random choice.
    pub seed: u64,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, once finished.
    pub finished_at: Option<String>,
    /// The last phase completed.
    pub phase: Phase,
    /// True if Ctrl-C, SIGTERM or a bound stopped the run early.
    pub interrupted: bool,
    /// What stopped the run early, in plain words, when `interrupted`.
    pub stop_reason: Option<String>,
    /// The first write of evidence that failed (the file, the OS error and the fix). It stopped
    /// the run and makes the verdict ABORTED, since the evidence is incomplete. None when every
    /// write succeeded (and in reports written before this field existed).
    #[serde(default)]
    pub write_failure: Option<String>,
    /// What the ledger's reads during the run did (`[settle.watch]`), once they stopped; absent
    /// when the watch is off or nothing is tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::ledger::watch::WatchSummary>,
}

/// Preflight result for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// Target name.
    pub target: String,
    /// Base URL (redacted).
    pub url: String,
    /// PASS, or BLOCKED with a reason and a hint.
    pub status: Status,
    /// What was observed.
    pub reason: String,
    /// How to fix it, when BLOCKED.
    pub hint: Option<String>,
}

/// The kind of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A load test.
    Load,
    /// A fault test: background load, real faults, their proof and recovery.
    Fault,
    /// A verification after settle: an oracle probe, the artifacts, isolation, a canary.
    Verify,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Short id from the plan, e.g. `L1`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// What kind of check it is.
    pub kind: CheckKind,
    /// Whether the verdict depends on it.
    pub required: bool,
    /// How it ended.
    pub status: Status,
    /// Why, in plain words (which threshold failed, which target blocked it, ...).
    pub reason: String,
    /// How to fix it, when BLOCKED.
    pub hint: Option<String>,
    /// Load measurements, if the check ran.
    pub metrics: Option<LoadSummary>,
    /// Each threshold with its measured value.
    pub thresholds: Vec<ThresholdResult>,
    /// The ledger's classification of the work this check tracked, if any.
    pub ledger: Option<LedgerSummary>,
    /// For a fault check: each fault with its proof, the recovery and availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<crate::report::fault::FaultSection>,
    /// The stream check of the SSE streams this check read, if any: order, duplicates, gaps
    /// across reconnects, resumes, terminal states, hangs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<crate::ledger::streams::StreamCheckSummary>,
    /// For a verification: what it asked, what it observed, and every problem it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::report::verify::VerifySection>,
}

/// A threshold and what was measured for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as written, e.g. `p(95) < 5000ms`.
    pub expression: String,
    /// The measured left-hand side, in the metric's unit; None if it could not be measured.
    pub measured: Option<f64>,
    /// Unit of `measured`: "ms", "count", "ratio" or "value".
    pub unit: String,
    /// Whether it held. A threshold that could not be measured did not hold.
    pub passed: bool,
    /// True when shakedown added it because the plan's thresholds say nothing about failures
    /// (`count(failures) == 0`); absent for the plan's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// Format a measured `value` in `unit` ("ms", "count", "ratio" or "value") for people:
/// `6120.4ms`, `3`, `0.0125`, `42.5`.
pub fn format_measured(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    match unit {
        "ms" => {
            let decimals = if value.abs() < 10.0 { 2 } else { 1 };
            format!("{}ms", trim_decimals(value, decimals))
        }
        "count" => trim_decimals(value, 0),
        "ratio" => trim_decimals(value, 4),
        _ => trim_decimals(value, 2),
    }
}

/// `value` with at most `decimals` decimals, without trailing zeros.
fn trim_decimals(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".to_string() } else { text }
}

/// The expressions of the thresholds that could not be measured and so leave a check
/// INCONCLUSIVE: the plan's own. A default that could not be measured (no request after the
/// recovery, say) is shown as such but does not hold the verdict back.
pub fn unmeasured(thresholds: &[ThresholdResult]) -> Vec<&str> {
    thresholds
        .iter()
        .filter(|t| t.measured.is_none() && !t.default)
        .map(|t| t.expression.as_str())
        .collect()
}

impl ThresholdResult {
    /// The measured value in its unit, or `not measured`.
    pub fn measured_text(&self) -> String {
        match self.measured {
            Some(value) => format_measured(value, &self.unit),
            None => "not measured".to_string(),
        }
    }

    /// The expression with its measurement: `p(95) < 5000ms measured 6120.4ms`.
    pub fn describe(&self) -> String {
        match self.measured {
            Some(_) => format!(
                "{}{} measured {}",
                self.expression,
                self.default_mark(),
                self.measured_text()
            ),
            None => format!(
                "{}{} could not be measured",
                self.expression,
                self.default_mark()
            ),
        }
    }

    /// ` (default)` for a threshold shakedown added, else nothing: every report shows it.
    pub fn default_mark(&self) -> &'static str {
        if self.default { " (default)" } else { "" }
    }
}

impl CheckKind {
    /// The kind's name as serialised, e.g. `load`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Load => "load",
            CheckKind::Fault => "fault",
            CheckKind::Verify => "verify",
        }
    }
}

/// A ledger class's name as `report.json` spells it, e.g. `not_applied`.
pub fn ledger_class_name(class: LedgerClass) -> String {
    match serde_json::to_value(class) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{class:?}").to_lowercase(),
    }
}

impl ToolInfo {
    /// This build of shakedown.
    pub fn current() -> ToolInfo {
        ToolInfo {
            name: "shakedown".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

impl Report {
    /// A report of this build for `run`, with its verdict, exit code and reasons already
    /// decided from `preflight` and `checks` (see [`Report::decide`]).
    pub fn new(run: RunInfo, preflight: Vec<TargetCheck>, checks: Vec<CheckReport>) -> Report {
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo::current(),
            run,
            verdict: Verdict::Go,
            exit_code: Verdict::Go.exit_code(),
            reasons: Vec::new(),
            preflight,
            checks,
        };
        report.decide();
        report
    }

    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_format_for_people() {
        assert_eq!(format_measured(6120.43, "ms"), "6120.4ms");
        assert_eq!(format_measured(5000.0, "ms"), "5000ms");
        assert_eq!(format_measured(0.354, "ms"), "0.35ms");
        assert_eq!(format_measured(3.0, "count"), "3");
        assert_eq!(format_measured(0.0125, "ratio"), "0.0125");
        assert_eq!(format_measured(0.0, "ratio"), "0");
        assert_eq!(format_measured(42.5, "value"), "42.5");
        assert_eq!(format_measured(-0.001, "value"), "0");
    }

    #[test]
    fn threshold_describes_its_measurement() {
        let mut t = ThresholdResult {
            expression: "p(95) < 5000ms".into(),
            measured: Some(6120.4),
            unit: "ms".into(),
            passed: false,
            default: false,
        };
        assert_eq!(t.describe(), "p(95) < 5000ms measured 6120.4ms");
        t.measured = None;
        assert_eq!(t.describe(), "p(95) < 5000ms could not be measured");
        assert_eq!(t.measured_text(), "not measured");
    }

    #[test]
    fn a_new_report_is_decided_and_names_this_build() {
        let base = crate::report::fixtures::sample_report();
        let report = Report::new(
            base.run.clone(),
            base.preflight.clone(),
            base.checks.clone(),
        );
        assert_eq!(report.verdict, Verdict::NoGo);
        assert_eq!(report.exit_code, 1);
        assert_eq!(report.reasons, base.reasons);
        assert_eq!(report.tool.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(report.check("L2").map(|c| c.status), Some(Status::Blocked));
        assert!(report.check("L9").is_none());
    }

    #[test]
    fn names_match_their_serialised_form() {
        assert_eq!(ledger_class_name(LedgerClass::NotApplied), "not_applied");
        assert_eq!(
            serde_json::to_value(CheckKind::Load).ok(),
            Some(serde_json::Value::from(CheckKind::Load.as_str()))
        );
    }
}
