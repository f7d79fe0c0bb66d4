//! What a check is, for every layer that produces one: its kind, the preflight result of a
//! target, a threshold with what was measured for it, and the one rule that turns what a check
//! found into its status ([`gate`]).
//!
//! Load tests, fault tests, verifications and preflight all build these; the report only
//! gathers them. They sit at the bottom so that `metrics`, `ledger`, `faults` and `probes` never
//! reach up into `report` for them.

use serde::{Deserialize, Serialize};

use crate::status::Status;

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

/// `could not be measured: p(95) < 500ms, ...` when some of the plan's thresholds could not be
/// measured (see [`unmeasured`]): a reason a check cannot decide.
pub fn unmeasured_finding(thresholds: &[ThresholdResult]) -> Option<String> {
    let unmeasured = unmeasured(thresholds);
    (!unmeasured.is_empty()).then(|| format!("could not be measured: {}", unmeasured.join(", ")))
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

/// What a check found, before it has a status: every observation that contradicts an
/// expectation, and the first reason the evidence cannot decide.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// What contradicts an expectation, in words, most important first.
    pub failures: Vec<String>,
    /// The first reason the evidence cannot decide; it counts only when nothing failed.
    pub undecided: Option<String>,
    /// How to make the evidence decide, given with `undecided`.
    pub hint: Option<String>,
}

impl Findings {
    /// The status, reason and hint of a check judged on these findings alone, which passes with
    /// `passed` when nothing failed and nothing is undecided (see [`gate`]).
    pub fn judge(self, passed: String) -> (Status, String, Option<String>) {
        let (mut status, mut reason, mut hint) = (Status::Pass, passed, None);
        gate(&mut status, &mut reason, &mut hint, self);
        (status, reason, hint)
    }
}

/// The one gating rule of every kind of check (load thresholds, fault expectations, ledger
/// findings, stream checks, verifications): add `findings` to a check's status, reason and hint.
///
/// FAIL beats INCONCLUSIVE beats PASS. Any failure makes the check FAIL, its reason the
/// failures joined by `; ` (after the earlier reason when it had already failed). Otherwise an
/// undecided finding makes a PASS INCONCLUSIVE, with that reason and its hint: nothing passes
/// unobserved. Otherwise the check keeps what it had. Whether the verdict counts the check
/// (required or optional) is [`crate::status::Verdict::decide`]'s business.
pub fn gate(
    status: &mut Status,
    reason: &mut String,
    hint: &mut Option<String>,
    findings: Findings,
) {
    if !findings.failures.is_empty() {
        let text = findings.failures.join("; ");
        *reason = if *status == Status::Fail {
            format!("{reason}; {text}")
        } else {
            text
        };
        *status = Status::Fail;
    } else if let Some(undecided) = findings.undecided
        && *status == Status::Pass
    {
        *status = Status::Inconclusive;
        *reason = undecided;
        *hint = findings.hint;
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

    fn findings(failures: &[&str], undecided: Option<&str>) -> Findings {
        Findings {
            failures: failures.iter().map(|f| f.to_string()).collect(),
            undecided: undecided.map(str::to_string),
            hint: undecided.map(|_| "look".to_string()),
        }
    }

    #[test]
    fn fail_beats_inconclusive_beats_pass() {
        let judged = findings(&["lost == 0: measured 2", "stuck"], Some("unknown keys"))
            .judge("held".into());
        assert_eq!(
            judged,
            (Status::Fail, "lost == 0: measured 2; stuck".into(), None)
        );
        let judged = findings(&[], Some("unknown keys")).judge("held".into());
        assert_eq!(
            judged,
            (
                Status::Inconclusive,
                "unknown keys".into(),
                Some("look".into())
            )
        );
        assert_eq!(
            findings(&[], None).judge("held".into()),
            (Status::Pass, "held".into(), None)
        );
    }

    #[test]
    fn later_findings_add_to_a_judged_check() {
        let (mut status, mut reason, mut hint) = (Status::Fail, "p(95)".to_string(), None);
        gate(
            &mut status,
            &mut reason,
            &mut hint,
            findings(&["regressed"], None),
        );
        assert_eq!(
            (status, reason.as_str()),
            (Status::Fail, "p(95); regressed")
        );
        let (mut status, mut reason) = (Status::Blocked, "driver".to_string());
        gate(
            &mut status,
            &mut reason,
            &mut hint,
            findings(&[], Some("unknown")),
        );
        assert_eq!((status, reason.as_str()), (Status::Blocked, "driver"));
        let (mut status, mut reason) = (Status::Inconclusive, "unproven".to_string());
        gate(
            &mut status,
            &mut reason,
            &mut hint,
            findings(&["gap"], None),
        );
        assert_eq!((status, reason.as_str()), (Status::Fail, "gap"));
    }

    #[test]
    fn kinds_match_their_serialised_form() {
        assert_eq!(
            serde_json::to_value(CheckKind::Load).ok(),
            Some(serde_json::Value::from(CheckKind::Load.as_str()))
        );
    }
}
