//! Threshold evaluation: each compiled threshold against a test's measurements and, for ledger
//! classes, the ledger's classification.
//!
//! A threshold whose left-hand side cannot be measured (no requests, an empty step, a gauge with
//! no successful sample, no ledger) is reported with `measured: None` and does not pass: nothing
//! passes unobserved.

use crate::check::ThresholdResult;
use shakedown_plan::model::{Counter, GaugeAgg, LedgerClass, Threshold, ThresholdMetric};

use super::window_thresholds::{self, FaultSeconds};
use super::{Measurements, StepMetrics};

/// What a threshold on a ledger class (`lost == 0`) reads: the ledger's classification of the
/// test's work. The ledger sits above the metrics and implements it; None is a class that cannot
/// be measured yet (nothing passes unobserved).
pub trait LedgerCounts {
    /// The count of `class` as a threshold measures it, or None if it cannot be measured.
    fn measure(&self, class: LedgerClass) -> Option<u64>;
}

/// Evaluate every threshold, in order. Thresholds scoped to a fault's window measure nothing
/// here (see [`evaluate_with`]).
pub fn evaluate(
    thresholds: &[Threshold],
    m: &Measurements,
    ledger: Option<&dyn LedgerCounts>,
) -> Vec<ThresholdResult> {
    evaluate_with(thresholds, m, ledger, &FaultSeconds::default())
}

/// Evaluate every threshold, in order, with the seconds of the check's fault windows for the
/// thresholds scoped to them (`{window=during_fault}`, `{window=after_recovery}`).
pub fn evaluate_with(
    thresholds: &[Threshold],
    m: &Measurements,
    ledger: Option<&dyn LedgerCounts>,
    faults: &FaultSeconds,
) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| {
            let measured = match &t.window {
                None => measure(t, m, ledger),
                Some(scope) => window_thresholds::seconds(scope, m, faults)
                    .and_then(|seconds| window_thresholds::measure(t, m, &seconds)),
            };
            ThresholdResult {
                expression: t.source.clone(),
                measured,
                unit: unit(&t.metric).to_string(),
                passed: measured.is_some_and(|v| t.op.holds(v, t.value)),
                default: t.default,
            }
        })
        .collect()
}

/// The unit of a metric's value, as the report writes it.
fn unit(metric: &ThresholdMetric) -> &'static str {
    match metric {
        ThresholdMetric::Percentile(_)
        | ThresholdMetric::Avg
        | ThresholdMetric::Min
        | ThresholdMetric::Max
        | ThresholdMetric::Med => "ms",
        ThresholdMetric::Rate(_) => "ratio",
        ThresholdMetric::Count(_) | ThresholdMetric::Ledger(_) => "count",
        ThresholdMetric::Gauge { .. } => "value",
    }
}

/// The measured left-hand side, None if it cannot be measured.
fn measure(t: &Threshold, m: &Measurements, ledger: Option<&dyn LedgerCounts>) -> Option<f64> {
    // Step-scoped thresholds read that step's figures; an unknown step measures nothing.
    let scope: &StepMetrics = match &t.step {
        Some(step) => m.step(step)?,
        None => &m.overall,
    };
    let latency = &scope.latency;
    match &t.metric {
        ThresholdMetric::Percentile(p) => latency.percentile_ms(*p),
        ThresholdMetric::Avg => latency.mean_ms(),
        ThresholdMetric::Min => latency.min_ms(),
        ThresholdMetric::Max => latency.max_ms(),
        ThresholdMetric::Med => latency.percentile_ms(50.0),
        // The share of dropped sends is over every send that was due, sent or not.
        ThresholdMetric::Rate(Counter::Dropped) => {
            let due = scope.requests + m.dropped;
            (due > 0).then(|| m.dropped as f64 / due as f64)
        }
        ThresholdMetric::Rate(counter) => {
            let requests = scope.requests;
            (requests > 0).then(|| count(*counter, scope, m) as f64 / requests as f64)
        }
        // A count over a test (or step) that neither sent nor failed anything observed nothing.
        ThresholdMetric::Count(counter) => {
            let observed = scope.requests > 0 || scope.failures > 0 || m.dropped > 0;
            observed.then(|| count(*counter, scope, m) as f64)
        }
        ThresholdMetric::Gauge { agg, name } => {
            let g = m.gauges.get(name)?;
            match agg {
                GaugeAgg::Max => g.max,
                GaugeAgg::Min => g.min,
                GaugeAgg::Avg => g.avg(),
                GaugeAgg::Last => g.last,
            }
        }
        ThresholdMetric::Ledger(class) => ledger.and_then(|l| l.measure(*class)).map(|n| n as f64),
    }
}

/// A counter's value in `scope`. Iterations and dropped sends are not per step: they always
/// count the whole test.
fn count(counter: Counter, scope: &StepMetrics, m: &Measurements) -> u64 {
    match counter {
        Counter::Requests => scope.requests,
        Counter::Failures => scope.failures,
        Counter::Errors => scope.errors,
        Counter::Iterations => m.iterations,
        Counter::Dropped => m.dropped,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use shakedown_plan::model::CmpOp;

    /// A ledger that saw this many lost keys and nothing else.
    struct Lost(u64);

    impl LedgerCounts for Lost {
        fn measure(&self, class: LedgerClass) -> Option<u64> {
            Some(if class == LedgerClass::Lost {
                self.0
            } else {
                0
            })
        }
    }

    fn threshold(source: &str, metric: ThresholdMetric, op: CmpOp, value: f64) -> Threshold {
        Threshold {
            source: source.into(),
            metric,
            step: None,
            window: None,
            op,
            value,
            default: false,
        }
    }

    /// 100 requests on "create" (1..=100 ms), 3 of them failed, one of those with no response.
    fn measurements() -> Measurements {
        let mut m = Measurements::new(["create", "idle"]);
        for ms in 1..=100u64 {
            for s in [&mut m.steps[0], &mut m.overall] {
                s.requests += 1;
                s.latency.record(Duration::from_millis(ms));
            }
        }
        m.steps[0].failures = 3;
        m.overall.failures = 3;
        m.steps[0].errors = 1;
        m.overall.errors = 1;
        m.iterations = 50;
        m.gauges.entry("queue".into()).or_default().record(12.0);
        m.gauges.entry("queue".into()).or_default().record(30.0);
        m.gauges
            .entry("dead".into())
            .or_default()
            .record_failure("status 401");
        m
    }

    #[test]
    fn latency_thresholds_pass_and_fail_in_ms() {
        let m = measurements();
        let r = evaluate(
            &[
                threshold(
                    "p(95) < 500ms",
                    ThresholdMetric::Percentile(95.0),
                    CmpOp::Lt,
                    500.0,
                ),
                threshold(
                    "p(95) < 50ms",
                    ThresholdMetric::Percentile(95.0),
                    CmpOp::Lt,
                    50.0,
                ),
                threshold("max < 100ms", ThresholdMetric::Max, CmpOp::Lt, 100.0),
                threshold("med <= 51ms", ThresholdMetric::Med, CmpOp::Le, 51.0),
                threshold("avg > 10ms", ThresholdMetric::Avg, CmpOp::Gt, 10.0),
                threshold("min >= 1ms", ThresholdMetric::Min, CmpOp::Ge, 1.0),
            ],
            &m,
            None,
        );
        let passed: Vec<bool> = r.iter().map(|t| t.passed).collect();
        assert_eq!(passed, [true, false, false, true, true, true]);
        let p95 = r[0].measured.unwrap();
        assert!((p95 - 95.0).abs() < 0.2, "p95 {p95}");
        assert_eq!(r[0].unit, "ms");
        assert_eq!(
            r[1].measured, r[0].measured,
            "a failing threshold still shows its value"
        );
    }

    #[test]
    fn counts_and_rates() {
        let m = measurements();
        let r = evaluate(
            &[
                threshold(
                    "count(failures) == 0",
                    ThresholdMetric::Count(Counter::Failures),
                    CmpOp::Eq,
                    0.0,
                ),
                threshold(
                    "rate(failures) < 0.05",
                    ThresholdMetric::Rate(Counter::Failures),
                    CmpOp::Lt,
                    0.05,
                ),
                threshold(
                    "rate(errors) < 0.005",
                    ThresholdMetric::Rate(Counter::Errors),
                    CmpOp::Lt,
                    0.005,
                ),
                threshold(
                    "count(iterations) >= 50",
                    ThresholdMetric::Count(Counter::Iterations),
                    CmpOp::Ge,
                    50.0,
                ),
            ],
            &m,
            None,
        );
        assert_eq!(r[0].measured, Some(3.0));
        assert!(!r[0].passed);
        assert_eq!(r[1].measured, Some(0.03));
        assert!(r[1].passed);
        assert_eq!(r[1].unit, "ratio");
        assert_eq!(r[2].measured, Some(0.01));
        assert!(!r[2].passed);
        assert!(r[3].passed);
    }

    #[test]
    fn step_scoped_thresholds_read_the_step() {
        let m = measurements();
        let mut on_create = threshold(
            "p(50){step=create} < 60ms",
            ThresholdMetric::Percentile(50.0),
            CmpOp::Lt,
            60.0,
        );
        on_create.step = Some("create".into());
        let mut on_idle = on_create.clone();
        on_idle.step = Some("idle".into());
        let mut on_missing = on_create.clone();
        on_missing.step = Some("nope".into());
        let r = evaluate(&[on_create, on_idle, on_missing], &m, None);
        assert!(r[0].passed);
        assert_eq!((r[1].measured, r[1].passed), (None, false), "empty step");
        assert_eq!((r[2].measured, r[2].passed), (None, false), "unknown step");
    }

    #[test]
    fn gauges_and_ledger_classes() {
        let m = measurements();
        let gauge = |agg, name: &str, op, v| {
            threshold(
                "gauge",
                ThresholdMetric::Gauge {
                    agg,
                    name: name.into(),
                },
                op,
                v,
            )
        };
        let lost = threshold(
            "lost == 0",
            ThresholdMetric::Ledger(LedgerClass::Lost),
            CmpOp::Eq,
            0.0,
        );
        let set = [
            gauge(GaugeAgg::Max, "queue", CmpOp::Lt, 100.0),
            gauge(GaugeAgg::Max, "queue", CmpOp::Lt, 20.0),
            gauge(GaugeAgg::Avg, "queue", CmpOp::Eq, 21.0),
            gauge(GaugeAgg::Max, "dead", CmpOp::Lt, 100.0),
            gauge(GaugeAgg::Last, "missing", CmpOp::Lt, 100.0),
            lost.clone(),
        ];
        let r = evaluate(&set, &m, None);
        let got: Vec<(Option<f64>, bool)> = r.iter().map(|t| (t.measured, t.passed)).collect();
        assert_eq!(
            got,
            [
                (Some(30.0), true),
                (Some(30.0), false),
                (Some(21.0), true),
                (None, false),
                (None, false),
                (None, false),
            ]
        );
        let r = evaluate(std::slice::from_ref(&lost), &m, Some(&Lost(2)));
        assert_eq!((r[0].measured, r[0].passed), (Some(2.0), false));
        let r = evaluate(&[lost], &m, Some(&Lost(0)));
        assert_eq!((r[0].measured, r[0].passed), (Some(0.0), true));
    }

    #[test]
    fn nothing_measured_passes_nothing() {
        let m = Measurements::new(["create"]);
        let r = evaluate(
            &[
                threshold(
                    "p(95) < 500ms",
                    ThresholdMetric::Percentile(95.0),
                    CmpOp::Lt,
                    500.0,
                ),
                threshold(
                    "count(failures) == 0",
                    ThresholdMetric::Count(Counter::Failures),
                    CmpOp::Eq,
                    0.0,
                ),
                threshold(
                    "rate(failures) < 0.01",
                    ThresholdMetric::Rate(Counter::Failures),
                    CmpOp::Lt,
                    0.01,
                ),
            ],
            &m,
            None,
        );
        assert!(r.iter().all(|t| t.measured.is_none() && !t.passed));
        // Steps that failed before sending anything are still observed failures.
        let mut m = Measurements::new(["create"]);
        m.overall.failures = 2;
        let r = evaluate(
            &[threshold(
                "count(failures) == 0",
                ThresholdMetric::Count(Counter::Failures),
                CmpOp::Eq,
                0.0,
            )],
            &m,
            None,
        );
        assert_eq!((r[0].measured, r[0].passed), (Some(2.0), false));
    }
}
