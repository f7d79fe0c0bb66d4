//! The status of a fault check. In order: a driver that failed or hung is BLOCKED; a target
//! that never came back is a FAIL naming the recovery deadline; an expectation measured and not
//! held is a FAIL; a fault that is not proven is INCONCLUSIVE; then the load and ledger rules
//! of a load test. A fault check is never PASS unless every fault in it was proven.

use crate::check::{Findings, ThresholdResult, unmeasured_finding};
use crate::ledger::summary::LedgerSummary;
use crate::ledger::violations::default_findings;
use crate::metrics::thresholds::{LedgerCounts, evaluate_with};
use crate::report::fault::FaultSection;
use crate::report::model::CheckReport;
use crate::status::Status;
use shakedown_plan::model::{FaultMetric, FaultTest};

use super::recovery::worst;
use super::runner::FaultOutcome;

/// The measured value of a fault metric, if it could be measured. `drain` is the backlog
/// gauge's return when the test samples one (`gauge_backlog`), else the ledger's drain: the
/// time until the last of the test's tracked work was seen done.
pub fn measure(metric: FaultMetric, section: &FaultSection, gauge_backlog: bool) -> Option<f64> {
    match metric {
        FaultMetric::Recovery => section.recovery.recovery_ms,
        FaultMetric::Availability => worst(&section.availability),
        FaultMetric::Outage => section
            .recovery
            .first_injection_ms
            .map(|_| section.outage_ms),
        FaultMetric::Drain if gauge_backlog => section.drain_ms,
        FaultMetric::Drain => section.ledger_drain_ms,
    }
}

/// Evaluate the fault expectations.
pub fn evaluate_faults(test: &FaultTest, section: &FaultSection) -> Vec<ThresholdResult> {
    test.expect
        .iter()
        .map(|t| {
            let measured = measure(t.metric, section, test.recovery.backlog.is_some());
            ThresholdResult {
                expression: t.source.clone(),
                measured,
                unit: t.metric.unit().to_string(),
                passed: measured.is_some_and(|v| t.op.holds(v, t.value)),
                default: false,
            }
        })
        .collect()
}

/// Fill `check` from the test's outcome and its ledger classification (None when the run was
/// interrupted before settle).
pub fn judge(
    check: &mut CheckReport,
    test: &FaultTest,
    outcome: &FaultOutcome,
    ledger: Option<&LedgerSummary>,
) {
    let mut thresholds = match &outcome.load {
        Some(load) => evaluate_with(
            &test.load.thresholds,
            &load.measurements,
            ledger.map(|l| l as &dyn LedgerCounts),
            &outcome.seconds,
        ),
        None => Vec::new(),
    };
    let mut section = outcome.section.clone();
    section.ledger_drain_ms = ledger.and_then(|l| ledger_drain_ms(&section, l));
    thresholds.extend(evaluate_faults(test, &section));
    check.thresholds = thresholds;
    check.ledger = ledger.cloned();
    check.metrics = outcome.load.as_ref().map(|l| l.summary.clone());
    check.fault = Some(section);
    let (status, reason, hint) = decide(check, outcome, ledger);
    check.status = status;
    check.reason = reason;
    check.hint = hint;
    // A driver that failed leaves the check BLOCKED, whatever the ledger says.
    if let Some(ledger) = ledger.filter(|_| status != Status::Blocked) {
        let findings = default_findings(ledger, &test.load.thresholds);
        check.gate(findings);
    }
}

/// From recovery to the first read that saw the last of the test's work done, on the test's
/// clock; None unless the test recovered and every key it tracked was decided and none is stuck.
pub fn ledger_drain_ms(section: &FaultSection, ledger: &LedgerSummary) -> Option<f64> {
    use shakedown_plan::model::LedgerClass;
    let undrained = ledger.count(LedgerClass::Stuck) + ledger.count(LedgerClass::Unknown);
    if undrained > 0 {
        return None;
    }
    let recovered = section.run_offset_ms? + section.recovery.recovered_ms?;
    let last = ledger.last_terminal_ns? as f64 / 1e6;
    Some((last - recovered).max(0.0))
}

fn decide(
    check: &CheckReport,
    outcome: &FaultOutcome,
    ledger: Option<&LedgerSummary>,
) -> (Status, String, Option<String>) {
    if let Some((reason, hint)) = &outcome.blocked {
        return (Status::Blocked, reason.clone(), Some(hint.clone()));
    }
    let mut failed: Vec<String> = check
        .thresholds
        .iter()
        .filter(|t| !t.passed && t.measured.is_some())
        .map(ThresholdResult::describe)
        .collect();
    if let Some(why) = check.metrics.as_ref().and_then(|m| m.nothing_succeeded()) {
        failed.insert(0, why);
    }
    if let Some(missed) = &outcome.deadline_missed {
        failed.insert(0, missed.clone());
    }
    let faults = &outcome.section.faults;
    let unproven: Vec<String> = faults
        .iter()
        .filter(|f| !f.proven)
        .map(|f| format!("{}: {}", f.action, f.proof))
        .collect();
    let (undecided, hint) = if faults.is_empty() {
        (
            Some("no fault was injected, so nothing was proven".into()),
            None,
        )
    } else if !unproven.is_empty() {
        (
            Some(format!("not proven: {}", unproven.join("; "))),
            Some("a fault counts only when it is proven: give the target an identity probe that changes on restart (a boot id, a PID, a deployment id)".into()),
        )
    } else {
        let undecided = unmeasured_finding(&check.thresholds)
            .or_else(|| ledger.and_then(LedgerSummary::undecided));
        (undecided, None)
    };
    let recovery = outcome
        .section
        .recovery
        .recovery_ms
        .map(|ms| format!("; recovered in {:.1}s", ms / 1000.0))
        .unwrap_or_default();
    let findings = Findings {
        failures: failed,
        undecided,
        hint,
    };
    findings.judge(format!(
        "{} faults proven; {} expectations held{recovery}",
        faults.len(),
        check.thresholds.len()
    ))
}

/// A fault test whose run was interrupted: its figures are shown, not judged.
pub fn interrupted(check: &mut CheckReport, outcome: &FaultOutcome) {
    check.metrics = outcome.load.as_ref().map(|l| l.summary.clone());
    check.fault = Some(outcome.section.clone());
    if let Some((reason, hint)) = &outcome.blocked {
        check.status = Status::Blocked;
        check.reason = reason.clone();
        check.hint = Some(hint.clone());
        return;
    }
    check.status = Status::Skipped;
    check.reason = "not judged: the run was interrupted; every applied fault was reverted and the partial figures are shown".into();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckKind;
    use shakedown_plan::model::LedgerClass;

    const PLAN: &str = r#"
plan = { name = "f", limits = { duration = "1m", requests = 10 } }
scenarios.s.steps = [{ request = "GET api:/health" }]
faults = [{ id = "C1", timeline = [{ at = "1s", restart = "api" }], load = { scenario = "s", executor = { rounds = { concurrency = 1, rounds = 1 } } } }]

[targets.api]
url = "http://127.0.0.1:1"
health = "GET /health"
control = { driver = "exec", restart = "true" }
identity = { request = "GET /health", value = "$.boot_id" }
"#;

    #[test]
    fn a_check_blocked_by_its_driver_stays_blocked_whatever_the_ledger_says() {
        let plan = shakedown_plan::compile_str(PLAN, std::path::Path::new("f.toml"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        let test = &plan.faults.tests[0];
        let mut outcome = FaultOutcome {
            load: None,
            section: FaultSection::default(),
            blocked: Some(("the driver failed".into(), "fix the driver".into())),
            deadline_missed: None,
            seconds: Default::default(),
        };
        let mut ledger = LedgerSummary::default();
        ledger.counts.insert(LedgerClass::StateRegression, 1);
        let mut check = CheckReport::not_run("C1", "C1", CheckKind::Fault, true, "");
        judge(&mut check, test, &outcome, Some(&ledger));
        assert_eq!(
            (check.status, check.reason.as_str()),
            (Status::Blocked, "the driver failed")
        );
        outcome.blocked = None;
        judge(&mut check, test, &outcome, Some(&ledger));
        assert_eq!(check.status, Status::Fail);
        assert!(
            check
                .reason
                .contains("state_regression == 1 (fails by default"),
            "{}",
            check.reason
        );
    }

    #[test]
    fn the_ledger_drain_runs_from_recovery_to_the_last_job_seen_done() {
        let mut section = FaultSection {
            run_offset_ms: Some(1_000.0),
            ..FaultSection::default()
        };
        section.recovery.recovered_ms = Some(2_000.0);
        let mut ledger = LedgerSummary {
            last_terminal_ns: Some(3_500_000_000),
            ..LedgerSummary::default()
        };
        assert_eq!(ledger_drain_ms(&section, &ledger), Some(500.0));
        section.drain_ms = Some(9.0);
        section.ledger_drain_ms = ledger_drain_ms(&section, &ledger);
        assert_eq!(measure(FaultMetric::Drain, &section, true), Some(9.0));
        assert_eq!(
            measure(FaultMetric::Drain, &section, false),
            Some(500.0),
            "without a backlog gauge, `drain` is the ledger's"
        );
        ledger.counts.insert(LedgerClass::Stuck, 1);
        assert_eq!(
            ledger_drain_ms(&section, &ledger),
            None,
            "stuck work never drained"
        );
        ledger.counts.insert(LedgerClass::Stuck, 0);
        section.recovery.recovered_ms = None;
        assert_eq!(ledger_drain_ms(&section, &ledger), None, "not recovered");
    }
}
