//! Which ledger classes are violations, and which fail a check by default.
//!
//! The ledger classifies; it does not decide statuses. In a run, a test's thresholds gate its
//! ledger: `lost == 0`, `stuck == 0` and so on, as the
//! plan says (a test that names no class is judged on its undecided keys only). Four classes
//! fail a check **by default**, even when no threshold names them, because no system can mean
//! them and older plans do not know their names: `state_regression` (terminal is not final),
//! `conflicting_terminal` (one unit of work ended two ways), `slow` (the plan's own track
//! `objective` was missed) and `collision` (one job under two keys). A threshold that names one of them (`slow <= 3`) replaces its
//! default. An objective the reads could not verify (undetermined keys) makes the check
//! INCONCLUSIVE by default, never PASS. [`default_findings`] says what these rules find, and
//! the one gating rule of every check ([`crate::check::gate`]) turns it into a status.
//!
//! Offline, `shakedown check` has no thresholds: any [`VIOLATIONS`] class above zero is a
//! violation (exit 1), otherwise an `unknown` key or an undetermined objective is inconclusive
//! (exit 3), otherwise the history is clean (exit 0).

use std::collections::BTreeMap;

use crate::check::Findings;
use crate::ledger::checker::class_name;
use crate::ledger::summary::LedgerSummary;
use shakedown_plan::model::{LedgerClass, Threshold, ThresholdMetric};

/// The classes that mean work went wrong: what `shakedown check` exits 1 on.
pub const VIOLATIONS: [LedgerClass; 8] = [
    LedgerClass::Lost,
    LedgerClass::Duplicates,
    LedgerClass::Stuck,
    LedgerClass::Resurrected,
    LedgerClass::StateRegression,
    LedgerClass::ConflictingTerminal,
    LedgerClass::Slow,
    LedgerClass::Collision,
];

/// The classes that fail a check in a run unless a threshold names them.
pub const FAIL_BY_DEFAULT: [LedgerClass; 4] = [
    LedgerClass::StateRegression,
    LedgerClass::ConflictingTerminal,
    LedgerClass::Slow,
    LedgerClass::Collision,
];

/// What an offline check of a history found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// No violation, nothing undecided.
    Clean,
    /// Work was lost, duplicated, stuck, resurrected, regressed, ended two ways, or slow.
    Violations,
    /// Nothing went wrong that the reads show, but some keys could not be decided.
    Inconclusive,
}

impl CheckOutcome {
    /// The exit code of `shakedown check`: 0 clean, 1 violations, 3 inconclusive.
    pub fn exit_code(self) -> u8 {
        match self {
            CheckOutcome::Clean => 0,
            CheckOutcome::Violations => 1,
            CheckOutcome::Inconclusive => 3,
        }
    }
}

/// The outcome of every test's summary together.
pub fn offline_outcome(tests: &BTreeMap<String, LedgerSummary>) -> CheckOutcome {
    let violated = tests
        .values()
        .any(|s| VIOLATIONS.iter().any(|&c| s.count(c) > 0));
    let undecided = tests.values().any(|s| {
        s.count(LedgerClass::Unknown) > 0 || s.objective.is_some_and(|o| o.undetermined > 0)
    });
    if violated {
        CheckOutcome::Violations
    } else if undecided {
        CheckOutcome::Inconclusive
    } else {
        CheckOutcome::Clean
    }
}

/// The default rules against a ledger summary, skipping every class a threshold names.
pub fn default_findings(summary: &LedgerSummary, thresholds: &[Threshold]) -> Findings {
    let named = |class: LedgerClass| {
        thresholds
            .iter()
            .any(|t| t.metric == ThresholdMetric::Ledger(class))
    };
    let mut findings = Findings::default();
    for class in FAIL_BY_DEFAULT {
        let n = summary.count(class);
        if n == 0 || named(class) {
            continue;
        }
        let example = summary
            .examples
            .get(&class)
            .and_then(|e| e.first())
            .map(|e| format!("; e.g. key {}: {}", e.key, e.why))
            .unwrap_or_default();
        findings.failures.push(format!(
            "{} == {n} (fails by default: {}){example}",
            class_name(class),
            meaning(class)
        ));
    }
    if let Some(o) = summary.objective
        && o.undetermined > 0
        && o.slow == 0
        && !named(LedgerClass::Slow)
    {
        findings.undecided = Some(format!(
            "the objective could not be verified for {} keys: each was first read terminal \
             after its objective, but no earlier read came after the objective (settle polls \
             after the load; shorten the load or lengthen the objective)",
            o.undetermined
        ));
    }
    findings
}

fn meaning(class: LedgerClass) -> &'static str {
    match class {
        LedgerClass::StateRegression => "a job seen terminal was seen non-terminal again",
        LedgerClass::ConflictingTerminal => "a unit of work ended in two different ways",
        LedgerClass::Slow => "jobs became terminal later than the track's objective",
        LedgerClass::Collision => {
            "keys and jobs are not one-to-one: one job was read under two keys"
        }
        _ => "see the examples",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::gate;
    use crate::ledger::summary::{LedgerExample, ObjectiveSummary};
    use crate::status::Status;
    use shakedown_plan::model::CmpOp;

    fn summary(class: LedgerClass, n: u64) -> LedgerSummary {
        let mut s = LedgerSummary::default();
        s.counts.insert(class, n);
        s.examples.insert(
            class,
            vec![LedgerExample {
                key: "k-1".into(),
                why: "because".into(),
                witnesses: vec![1],
            }],
        );
        s
    }

    fn threshold(class: LedgerClass) -> Threshold {
        Threshold {
            source: format!("{} <= 5", class_name(class)),
            metric: ThresholdMetric::Ledger(class),
            step: None,
            window: None,
            op: CmpOp::Le,
            value: 5.0,
            default: false,
        }
    }

    /// A judged check's status and reason after the default rules (no hint: they give none).
    fn apply_defaults(
        (status, reason): &mut (Status, String),
        ledger: &LedgerSummary,
        thresholds: &[Threshold],
    ) {
        gate(
            status,
            reason,
            &mut None,
            default_findings(ledger, thresholds),
        );
    }

    fn check(status: Status, reason: &str) -> (Status, String) {
        (status, reason.to_string())
    }

    #[test]
    fn a_regression_fails_a_passing_check_unless_a_threshold_names_it() {
        let s = summary(LedgerClass::StateRegression, 2);
        let mut c = check(Status::Pass, "3 thresholds held");
        apply_defaults(&mut c, &s, &[]);
        assert_eq!(c.0, Status::Fail);
        assert!(
            c.1.starts_with("state_regression == 2 (fails by default"),
            "{}",
            c.1
        );
        assert!(c.1.contains("k-1"), "{}", c.1);
        let mut c = check(Status::Pass, "held");
        apply_defaults(&mut c, &s, &[threshold(LedgerClass::StateRegression)]);
        assert_eq!(c.0, Status::Pass);
    }

    #[test]
    fn a_default_failure_is_added_to_an_earlier_failure() {
        let s = summary(LedgerClass::ConflictingTerminal, 1);
        let mut c = check(Status::Fail, "lost == 0: measured 2");
        apply_defaults(&mut c, &s, &[]);
        assert!(c.1.starts_with("lost == 0: measured 2; conflicting_terminal == 1"));
    }

    #[test]
    fn an_unverified_objective_is_inconclusive_by_default() {
        let s = LedgerSummary {
            objective: Some(ObjectiveSummary {
                met: 5,
                slow: 0,
                undetermined: 2,
            }),
            ..LedgerSummary::default()
        };
        let mut c = check(Status::Pass, "held");
        apply_defaults(&mut c, &s, &[]);
        assert_eq!(c.0, Status::Inconclusive);
        assert!(c.1.contains("2 keys"), "{}", c.1);
        assert_eq!(
            offline_outcome(&BTreeMap::from([("L1".into(), s)])),
            CheckOutcome::Inconclusive
        );
    }

    #[test]
    fn offline_outcomes_and_their_exit_codes() {
        let clean = summary(LedgerClass::Ok, 3);
        let lost = summary(LedgerClass::Lost, 1);
        let unknown = summary(LedgerClass::Unknown, 1);
        let failed = summary(LedgerClass::Failed, 1);
        let of = |s: &LedgerSummary| offline_outcome(&BTreeMap::from([("L1".into(), s.clone())]));
        assert_eq!(of(&clean).exit_code(), 0);
        assert_eq!(
            of(&failed).exit_code(),
            0,
            "a job that failed is not lost work"
        );
        assert_eq!(of(&lost).exit_code(), 1);
        assert_eq!(of(&unknown).exit_code(), 3);
        let both = BTreeMap::from([("L1".into(), lost), ("L2".into(), unknown)]);
        assert_eq!(offline_outcome(&both), CheckOutcome::Violations);
    }
}
