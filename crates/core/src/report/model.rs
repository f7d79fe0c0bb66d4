//! The one `Report` model, computed once; every exporter only renders it.
//!
//! `report.json` is this struct serialised, and `schema/report.schema.json` is its contract:
//! a top-level `verdict`, and a `checks` array whose entries carry `id`, `name`, `status`,
//! `reason` and their metrics.

use serde::{Deserialize, Serialize};

use crate::check::{CheckKind, Findings, TargetCheck, ThresholdResult};
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
    pub verify: Option<crate::report::verify_section::VerifySection>,
}

impl CheckReport {
    /// Add findings to this check's status, reason and hint by the one gating rule of every
    /// check ([`crate::check::gate`]).
    pub fn gate(&mut self, findings: Findings) {
        crate::check::gate(&mut self.status, &mut self.reason, &mut self.hint, findings);
    }

    /// A check that did not run (yet): INCONCLUSIVE with `reason`, and nothing measured, so it
    /// can never pass unobserved. The phases set SKIPPED or BLOCKED on it when it will not run.
    pub fn not_run(
        id: &str,
        name: &str,
        kind: CheckKind,
        required: bool,
        reason: &str,
    ) -> CheckReport {
        CheckReport {
            id: id.to_string(),
            name: name.to_string(),
            kind,
            required,
            status: Status::Inconclusive,
            reason: reason.to_string(),
            hint: None,
            metrics: None,
            thresholds: Vec::new(),
            ledger: None,
            fault: None,
            streams: None,
            verify: None,
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
    }
}
