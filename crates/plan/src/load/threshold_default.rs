//! The threshold every test gets unless its plan says something about failures: a load test
//! whose thresholds name no `failures` gets `count(failures) == 0`, and a fault test, which
//! expects failures while its fault acts, gets `count(failures){window=outside_fault} == 0`: none before the first injection nor after
//! the recovery.
//! Without it a plan whose every request failed, with no threshold or only a latency one, was
//! GO. A plan loosens it by writing its own (`rate(failures) < 0.01`): the plan's wins, and the
//! report marks the one shakedown added as a default.

use crate::expr::CmpOp;
use crate::load::model::{Counter, Threshold, ThresholdMetric};
use crate::load::model_open::WindowScope;

/// The default of a load test.
pub const LOAD_DEFAULT: &str = "count(failures) == 0";
/// The default of a fault test: no failure outside the fault's window (before it and after the
/// recovery).
pub const FAULT_DEFAULT: &str = "count(failures){window=outside_fault} == 0";

/// Whether a threshold says something about failures.
fn about_failures(t: &Threshold) -> bool {
    matches!(
        t.metric,
        ThresholdMetric::Rate(Counter::Failures) | ThresholdMetric::Count(Counter::Failures)
    )
}

/// Append the default failure threshold unless one of `thresholds` is about failures.
pub fn add_failure_default(thresholds: &mut Vec<Threshold>, fault: bool) {
    if thresholds.iter().any(about_failures) {
        return;
    }
    thresholds.push(Threshold {
        source: if fault { FAULT_DEFAULT } else { LOAD_DEFAULT }.to_string(),
        metric: ThresholdMetric::Count(Counter::Failures),
        step: None,
        window: fault.then_some(WindowScope::OutsideFault),
        op: CmpOp::Eq,
        value: 0.0,
        default: true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::threshold::parse_threshold;

    #[test]
    fn a_test_silent_on_failures_gets_the_default_and_a_plan_s_own_wins() {
        let mut latency_only = vec![parse_threshold("p(95) < 5s").unwrap()];
        add_failure_default(&mut latency_only, false);
        assert_eq!(latency_only.len(), 2);
        assert_eq!(latency_only[1].source, LOAD_DEFAULT);
        assert!(latency_only[1].default);
        assert_eq!(
            latency_only[1],
            Threshold {
                default: true,
                ..parse_threshold(LOAD_DEFAULT).unwrap()
            }
        );

        let mut own = vec![parse_threshold("rate(failures) < 0.01").unwrap()];
        add_failure_default(&mut own, false);
        assert_eq!(own.len(), 1, "the plan's own threshold wins");

        let mut fault = Vec::new();
        add_failure_default(&mut fault, true);
        assert_eq!(
            fault,
            vec![Threshold {
                default: true,
                ..parse_threshold(FAULT_DEFAULT).unwrap()
            }]
        );
    }
}
