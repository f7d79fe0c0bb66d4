//! The load judge: after settle, turn a load test's measurements, its ledger classification and
//! the stream check of the streams it read into its status (the stream check judges fault
//! checks too). Fault checks have their own judge (`faults::judge`), and the `[[verify]]`
//! checks run in their own phase (`verify_phase`).
//!
//! The rules, in order, given to the one gating rule ([`crate::check::gate`]): a threshold that
//! was measured and did not hold is a FAIL. Otherwise a threshold that could not be measured, a
//! ledger key that could not be decided, or a test that sent no request at all is INCONCLUSIVE.
//! Only then is it a PASS. Nothing passes unobserved.

use crate::check::{Findings, ThresholdResult, unmeasured_finding};
use crate::ledger::streams::StreamCheckSummary;
use crate::ledger::summary::LedgerSummary;
use crate::ledger::violations::default_findings;
use crate::load::LoadOutcome;
use crate::metrics::thresholds::{LedgerCounts, evaluate};
use crate::report::model::CheckReport;
use crate::status::Status;
use shakedown_plan::model::{LedgerClass, LoadTest};

/// Judge a completed test.
pub fn judge(
    check: &mut CheckReport,
    test: &LoadTest,
    outcome: &LoadOutcome,
    ledger: Option<&LedgerSummary>,
) {
    let counts = ledger.map(|l| l as &dyn LedgerCounts);
    check.thresholds = evaluate(&test.thresholds, &outcome.measurements, counts);
    check.ledger = ledger.cloned();
    let (status, reason) = decide(&check.thresholds, outcome, ledger);
    check.status = status;
    check.reason = reason;
    if let Some(ledger) = ledger {
        let findings = default_findings(ledger, &test.thresholds);
        check.gate(findings);
    }
}

/// Every test's stream check, from the stream log and the jobs' final reads. Err if the log
/// cannot be read back: then no stream can be said to have passed.
pub fn stream_checks(
    ledger: &crate::ledger::history::Ledger,
) -> Result<std::collections::BTreeMap<String, StreamCheckSummary>, String> {
    if ledger.streams().is_empty() {
        return Ok(std::collections::BTreeMap::new());
    }
    let states = crate::ledger::streams::final_states(&ledger.records());
    ledger
        .streams()
        .check(&states)
        .map_err(|e| format!("the stream log cannot be read: {e}"))
}

/// Add a test's stream check to its check: any broken rule (a gap, a duplicate, a reorder, a
/// bad resume, a terminal state the ledger contradicts, a hang) is a FAIL naming the ids.
pub fn judge_streams(
    check: &mut CheckReport,
    streams: &Result<std::collections::BTreeMap<String, StreamCheckSummary>, String>,
) {
    let summary = match streams {
        Ok(all) => match all.get(&check.id) {
            Some(s) => s,
            None => return,
        },
        Err(e) => {
            let findings = Findings {
                undecided: Some(e.clone()),
                ..Findings::default()
            };
            check.gate(findings);
            return;
        }
    };
    check.streams = Some(summary.clone());
    let broken = summary.violation_count();
    if broken == 0 {
        if check.status == Status::Pass {
            check.reason.push_str(&format!(
                "; stream check: {} streams ordered, complete and resumed right ({} reconnects)",
                summary.streams, summary.reconnects
            ));
        }
        return;
    }
    let rules: Vec<String> = summary
        .violations
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(rule, n)| format!("{rule} {n}"))
        .collect();
    let mut text = format!(
        "stream check: {broken} violations in {} streams ({})",
        summary.streams,
        rules.join(", ")
    );
    if let Some(e) = summary.examples.first() {
        text.push_str(&format!(
            "; e.g. job {} read by {}: {}",
            e.job, e.consumer, e.why
        ));
    }
    let findings = Findings {
        failures: vec![text],
        ..Findings::default()
    };
    check.gate(findings);
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
    let mut failed: Vec<String> = thresholds
        .iter()
        .filter(|t| !t.passed && t.measured.is_some())
        .map(describe)
        .collect();
    if let Some(why) = outcome.summary.nothing_succeeded() {
        failed.insert(0, why);
    }
    let undecided = unmeasured_finding(thresholds)
        .or_else(|| ledger.and_then(LedgerSummary::undecided))
        .or_else(|| {
            (outcome.summary.requests == 0)
                .then(|| "no request was sent, so nothing was observed".to_string())
        });
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
    let findings = Findings {
        failures: failed,
        undecided,
        hint: None,
    };
    let (status, reason, _) = findings.judge(reason);
    (status, reason)
}

/// "p(95) < 5000ms: measured 6120.4ms".
fn describe(t: &ThresholdResult) -> String {
    match t.measured {
        Some(v) if t.unit == "ms" => {
            format!("{}{}: measured {v:.1}ms", t.expression, t.default_mark())
        }
        Some(v) => format!(
            "{}{}: measured {}",
            t.expression,
            t.default_mark(),
            trim_number(v)
        ),
        None => format!("{}{}: not measured", t.expression, t.default_mark()),
    }
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}
