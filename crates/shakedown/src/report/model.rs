//! The one `Report` model, computed once; every exporter only renders it.
//!
//! `report.json` is this struct serialised, and `schema/report.schema.json` is its contract:
//! a top-level `verdict`, and a `checks` array whose entries carry `id`, `name`, `status`,
//! `reason` and their metrics.

use serde::{Deserialize, Serialize};

use crate::ledger::summary::LedgerSummary;
use crate::metrics::summary::LoadSummary;
use crate::status::{Status, Verdict};

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
}
