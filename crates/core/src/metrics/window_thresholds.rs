//! Thresholds scoped to a window: `p(99){window=10s..20s} < 200ms`, and the fault windows
//! (`{window=during_fault}`, `{window=after_recovery}`) whose seconds the fault runner supplies
//! in [`FaultSeconds`].
//!
//! A scoped threshold is measured on the test's per-second windows merged over the selected
//! seconds: latencies at the windows' precision (two significant digits), counts exactly. A
//! selection with nothing in it measures nothing, so the threshold does not pass.

use std::ops::Range;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::Measurements;
use super::windows::Window;
use shakedown_plan::model::{Counter, Threshold, ThresholdMetric, WindowScope};

/// The seconds of the run (since its start) that fault-scoped thresholds read, as the fault
/// runner observed them. None means the check has no such window, and thresholds scoped to it
/// measure nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSeconds {
    /// Seconds during which a fault was applied (from injection to revert).
    pub during_fault: Option<Vec<u64>>,
    /// Seconds from the recovery of the last fault to the end of the test.
    pub after_recovery: Option<Vec<u64>>,
    /// The test's seconds outside `during_fault`: before the first injection and after each
    /// recovery.
    pub outside_fault: Option<Vec<u64>>,
}

/// The seconds of the run `scope` selects for the test `m`, None if they are not known.
pub fn seconds(scope: &WindowScope, m: &Measurements, faults: &FaultSeconds) -> Option<Vec<u64>> {
    match scope {
        WindowScope::Range { from, to } => Some(range(m, *from, *to).collect()),
        WindowScope::DuringFault => faults.during_fault.clone(),
        WindowScope::AfterRecovery => faults.after_recovery.clone(),
        WindowScope::OutsideFault => faults.outside_fault.clone(),
    }
}

/// Seconds of the run from `from` to `to` after the test's start (or to its last window).
fn range(m: &Measurements, from: Duration, to: Option<Duration>) -> Range<u64> {
    let start = (m.started + from).as_secs();
    let end = match to {
        Some(to) => (m.started + to).as_secs(),
        None => m.windows.span().map_or(start, |(_, last)| last + 1),
    };
    start..end.max(start)
}

/// Measure `t` (whose `window` is set) on the windows of `seconds`.
pub fn measure(t: &Threshold, m: &Measurements, seconds: &[u64]) -> Option<f64> {
    let w = m.windows.select(seconds.iter().copied());
    let latency = w.latency();
    let ms = |h: &Histogram<u32>, f: &dyn Fn(&Histogram<u32>) -> f64| {
        (!h.is_empty()).then(|| f(h) / 1000.0)
    };
    match &t.metric {
        ThresholdMetric::Percentile(p) => ms(&latency, &|h| {
            h.value_at_percentile(p.clamp(0.0, 100.0)) as f64
        }),
        ThresholdMetric::Avg => ms(&latency, &|h| h.mean()),
        ThresholdMetric::Min => ms(&latency, &|h| h.min() as f64),
        ThresholdMetric::Max => ms(&latency, &|h| h.max() as f64),
        ThresholdMetric::Med => ms(&latency, &|h| h.value_at_percentile(50.0) as f64),
        ThresholdMetric::Rate(counter) => {
            let denominator = match counter {
                Counter::Dropped => w.requests + w.dropped,
                _ => w.requests,
            };
            if denominator == 0 {
                return None;
            }
            count(*counter, &w).map(|n| n as f64 / denominator as f64)
        }
        ThresholdMetric::Count(counter) => {
            let observed = w.requests > 0 || w.failures > 0 || w.dropped > 0;
            if !observed {
                return None;
            }
            count(*counter, &w).map(|n| n as f64)
        }
        // The compiler refuses these with a window; measure nothing rather than the test.
        ThresholdMetric::Gauge { .. } | ThresholdMetric::Ledger(_) => None,
    }
}

fn count(counter: Counter, w: &Window) -> Option<u64> {
    match counter {
        Counter::Requests => Some(w.requests),
        Counter::Failures => Some(w.failures),
        Counter::Errors => Some(w.errors),
        Counter::Dropped => Some(w.dropped),
        Counter::Iterations => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::windows::Outcome;
    use shakedown_plan::model::CmpOp;

    fn scoped(metric: ThresholdMetric, window: WindowScope) -> Threshold {
        Threshold {
            source: "t".into(),
            metric,
            step: None,
            window: Some(window),
            op: CmpOp::Lt,
            value: 0.0,
            default: false,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A test that started 2.5 s into the run: fast in its first 4 seconds, slow after.
    fn measurements() -> Measurements {
        let mut m = Measurements::new(["get"]);
        m.started = Duration::from_millis(2_500);
        for second in 2..=9u64 {
            for _ in 0..100 {
                let ms = if second < 6 { 10 } else { 800 };
                m.windows
                    .record(second, Duration::from_millis(ms), Outcome::Ok);
            }
        }
        m.windows
            .record(7, Duration::from_millis(5), Outcome::Error);
        m.windows.record_dropped(8);
        m
    }

    #[test]
    fn ranges_are_offsets_from_the_test_start() {
        let m = measurements();
        let early = WindowScope::Range {
            from: secs(0),
            to: Some(secs(3)),
        };
        let late = WindowScope::Range {
            from: secs(4),
            to: None,
        };
        let none = FaultSeconds::default();
        assert_eq!(seconds(&early, &m, &none), Some(vec![2, 3, 4]));
        assert_eq!(seconds(&late, &m, &none), Some(vec![6, 7, 8, 9]));
        let p99 = |w: &WindowScope| {
            let s = seconds(w, &m, &none).unwrap();
            measure(
                &scoped(ThresholdMetric::Percentile(99.0), w.clone()),
                &m,
                &s,
            )
            .unwrap()
        };
        assert!((p99(&early) - 10.0).abs() < 0.2, "{}", p99(&early));
        assert!((p99(&late) - 800.0).abs() < 8.0, "{}", p99(&late));
    }

    #[test]
    fn counts_and_rates_in_a_window() {
        let m = measurements();
        let w = WindowScope::Range {
            from: secs(4),
            to: None,
        };
        let s = seconds(&w, &m, &FaultSeconds::default()).unwrap();
        let count = |c| measure(&scoped(ThresholdMetric::Count(c), w.clone()), &m, &s);
        assert_eq!(count(Counter::Requests), Some(401.0));
        assert_eq!(count(Counter::Errors), Some(1.0));
        assert_eq!(count(Counter::Dropped), Some(1.0));
        assert_eq!(count(Counter::Iterations), None);
        let rate = measure(
            &scoped(ThresholdMetric::Rate(Counter::Dropped), w.clone()),
            &m,
            &s,
        );
        assert_eq!(rate, Some(1.0 / 402.0));
    }

    #[test]
    fn fault_windows_come_from_the_fault_runner() {
        let m = measurements();
        let t = scoped(ThresholdMetric::Max, WindowScope::DuringFault);
        let scope = WindowScope::DuringFault;
        assert_eq!(seconds(&scope, &m, &FaultSeconds::default()), None);
        let faults = FaultSeconds {
            during_fault: Some(vec![6, 7]),
            after_recovery: Some(vec![30, 31]),
            outside_fault: Some(vec![1, 2, 30, 31]),
        };
        let s = seconds(&scope, &m, &faults).unwrap();
        assert!(measure(&t, &m, &s).is_some_and(|v| v > 700.0));
        let after = seconds(&WindowScope::AfterRecovery, &m, &faults).unwrap();
        assert_eq!(measure(&t, &m, &after), None, "nothing recorded then");
    }
}
