//! Verify: turn a load test's measurements and its ledger classification into a status.
//!
//! The rules, in order: a threshold that was measured and did not hold is a FAIL. Otherwise a
//! threshold that could not be measured, a ledger key that could not be decided, or a test that
//! sent no request at all is INCONCLUSIVE. Only then is it a PASS. Nothing passes unobserved.

use crate::ledger::summary::LedgerSummary;
use crate::load::LoadOutcome;
use crate::metrics::thresholds::evaluate;
use crate::plan::model::{LedgerClass, LoadTest};
use crate::report::model::{CheckReport, ThresholdResult};
use crate::status::Status;

/// Judge a completed test.
pub fn judge(
    check: &mut CheckReport,
    test: &LoadTest,
    outcome: &LoadOutcome,
    ledger: Option<&LedgerSummary>,
) {
    check.thresholds = evaluate(&test.thresholds, &outcome.measurements, ledger);
    check.ledger = ledger.cloned();
    let (status, reason) = decide(&check.thresholds, outcome, ledger);
    check.status = status;
    check.reason = reason;
}

/// A test whose run was interrupted: its partial figures are shown, but not judged.
pub fn interrupted(check: &mut CheckReport, test: &LoadTest, outcome: &LoadOutcome) {
    check.thresholds = evaluate(&test.thresholds, &outcome.measurements, None);
    check.status = Status::Skipped;
    check.reason = format!(
        "not judged: the run was interrupted (after {} requests in this test); partial \
         figures are shown",
        outcome.summary.requests
    );
}

fn decide(
    thresholds: &[ThresholdResult],
    outcome: &LoadOutcome,
    ledger: Option<&LedgerSummary>,
) -> (Status, String) {
    let failed: Vec<String> = thresholds
        .iter()
        .filter(|t| !t.passed && t.measured.is_some())
        .map(describe)
        .collect();
    if !failed.is_empty() {
        return (Status::Fail, failed.join("; "));
    }
    let unmeasured: Vec<&str> = thresholds
        .iter()
        .filter(|t| t.measured.is_none())
        .map(|t| t.expression.as_str())
        .collect();
    if !unmeasured.is_empty() {
        return (
            Status::Inconclusive,
            format!("could not be measured: {}", unmeasured.join(", ")),
        );
    }
    if let Some(ledger) = ledger {
        let unknown = ledger.count(LedgerClass::Unknown);
        if unknown > 0 {
            return (
                Status::Inconclusive,
                format!(
                    "{unknown} of {} tracked keys could not be decided (no successful final \
                     read, or settle did not complete)",
                    ledger.tracked
                ),
            );
        }
    }
    if outcome.summary.requests == 0 {
        return (
            Status::Inconclusive,
            "no request was sent, so nothing was observed".into(),
        );
    }
    let mut reason = format!(
        "{} thresholds held over {} requests",
        thresholds.len(),
        outcome.summary.requests
    );
    if let Some(ledger) = ledger.filter(|l| l.tracked > 0) {
        reason.push_str(&format!(
            "; {} tracked keys, {} ok",
            ledger.tracked,
            ledger.count(LedgerClass::Ok)
        ));
    }
    (Status::Pass, reason)
}

/// "p(95) < 5000ms: measured 6120.4ms".
fn describe(t: &ThresholdResult) -> String {
    match t.measured {
        Some(v) if t.unit == "ms" => format!("{}: measured {v:.1}ms", t.expression),
        Some(v) => format!("{}: measured {}", t.expression, trim_number(v)),
        None => format!("{}: not measured", t.expression),
    }
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}
