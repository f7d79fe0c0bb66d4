//! Recovery measures, computed from observations (pure functions, so they are tested alone):
//! time to recover (injection to the first of K consecutive healthy probes), availability per
//! 1-second window during the fault (successes ÷ attempts of the background load, keyed by
//! intended start), outage time (how long the recovery probe was failing) and backlog drain time
//! (after recovery, until a queue-depth gauge is back to its pre-fault level).

use crate::metrics::summary::WindowSummary;
use crate::report::fault::AvailabilityWindow;

/// One recovery probe: when (ms since the start of the fault test) and whether it was healthy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeSample {
    /// Milliseconds since the start of the fault test.
    pub at_ms: f64,
    /// Healthy or not.
    pub ok: bool,
}

/// The first unhealthy probe at or after `after_ms`.
pub fn first_failure_after(samples: &[ProbeSample], after_ms: f64) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.at_ms >= after_ms && !s.ok)
        .map(|s| s.at_ms)
}

/// The first healthy probe at or after `after_ms`.
pub fn first_healthy_after(samples: &[ProbeSample], after_ms: f64) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.at_ms >= after_ms && s.ok)
        .map(|s| s.at_ms)
}

/// The time of the first of `k` consecutive healthy probes at or after `after_ms`.
pub fn recovered_after(samples: &[ProbeSample], after_ms: f64, k: u32) -> Option<f64> {
    let mut run_start = None;
    let mut run = 0;
    for s in samples.iter().filter(|s| s.at_ms >= after_ms) {
        if s.ok {
            if run == 0 {
                run_start = Some(s.at_ms);
            }
            run += 1;
            if run >= k {
                return run_start;
            }
        } else {
            run = 0;
        }
    }
    None
}

/// Total time the probe was failing: each failed probe counts until the next probe.
pub fn outage_ms(samples: &[ProbeSample]) -> f64 {
    samples
        .windows(2)
        .filter(|w| !w[0].ok)
        .map(|w| w[1].at_ms - w[0].at_ms)
        .fold(0.0, |a, b| a + b)
}

/// Availability of each 1-second window of the background load from `from_s` to `to_s`
/// (seconds since the start of the run, inclusive), from the load's own windows. A second in
/// which no request started but some were in flight (clients waiting on a hung service) is
/// unavailable: 0, not absent.
pub fn availability(windows: &[WindowSummary], from_s: u64, to_s: u64) -> Vec<AvailabilityWindow> {
    windows
        .iter()
        .filter(|w| w.second >= from_s && w.second <= to_s)
        .filter_map(|w| {
            let successes = w.requests.saturating_sub(w.failures);
            match (w.requests, w.in_flight) {
                (0, 0) => None,
                (0, _) => Some(stalled(w)),
                (requests, _) => Some(AvailabilityWindow {
                    second: w.second,
                    requests,
                    successes,
                    availability: successes as f64 / requests as f64,
                    in_flight: w.in_flight,
                }),
            }
        })
        .collect()
}

/// A second in which requests were in flight and none started: availability 0.
fn stalled(w: &WindowSummary) -> AvailabilityWindow {
    AvailabilityWindow {
        second: w.second,
        requests: 0,
        successes: 0,
        availability: 0.0,
        in_flight: w.in_flight,
    }
}

/// The seconds from `from_s` to `to_s` (inclusive) with no request started and none in flight:
/// availability cannot be said of them, and the report says how many there were.
pub fn idle_seconds(windows: &[WindowSummary], from_s: u64, to_s: u64) -> u64 {
    if from_s > to_s {
        return 0;
    }
    let busy = windows
        .iter()
        .filter(|w| w.second >= from_s && w.second <= to_s)
        .filter(|w| w.requests > 0 || w.in_flight > 0)
        .count() as u64;
    (to_s - from_s + 1).saturating_sub(busy)
}

/// Availability of each 1-second window when a latency objective is set: `within` holds, per
/// second since the start of the run, the share of requests that succeeded within the objective.
pub fn availability_within(
    windows: &[WindowSummary],
    within: &[(u64, Option<f64>)],
    from_s: u64,
    to_s: u64,
) -> Vec<AvailabilityWindow> {
    windows
        .iter()
        .filter(|w| w.second >= from_s && w.second <= to_s)
        .filter_map(|w| {
            if w.requests == 0 {
                return (w.in_flight > 0).then(|| stalled(w));
            }
            let share = within.iter().find(|(s, _)| *s == w.second)?.1?;
            Some(AvailabilityWindow {
                second: w.second,
                requests: w.requests,
                successes: (share * w.requests as f64).round() as u64,
                availability: share,
                in_flight: w.in_flight,
            })
        })
        .collect()
}

/// The same windows computed from the recovery probes, for a test whose load has no windows:
/// `offset_s` is the fault test's start in seconds since the start of the run.
pub fn probe_availability(
    samples: &[ProbeSample],
    offset_ms: f64,
    from_s: u64,
    to_s: u64,
) -> Vec<AvailabilityWindow> {
    let mut out: Vec<AvailabilityWindow> = Vec::new();
    for s in samples {
        let second = ((offset_ms + s.at_ms) / 1000.0).floor().max(0.0) as u64;
        if second < from_s || second > to_s {
            continue;
        }
        let window = match out.last_mut() {
            Some(w) if w.second == second => w,
            _ => {
                out.push(AvailabilityWindow {
                    second,
                    requests: 0,
                    successes: 0,
                    availability: 0.0,
                    in_flight: 0,
                });
                match out.last_mut() {
                    Some(w) => w,
                    None => continue,
                }
            }
        };
        window.requests += 1;
        window.successes += u64::from(s.ok);
        window.availability = window.successes as f64 / window.requests as f64;
    }
    out
}

/// The lowest availability among `windows`.
pub fn worst(windows: &[AvailabilityWindow]) -> Option<f64> {
    windows.iter().map(|w| w.availability).reduce(f64::min)
}

/// Time from `recovered_ms` until the gauge is back to `baseline` or below.
pub fn drain_ms(samples: &[(f64, f64)], baseline: f64, recovered_ms: f64) -> Option<f64> {
    samples
        .iter()
        .find(|(at, value)| *at >= recovered_ms && *value <= baseline)
        .map(|(at, _)| at - recovered_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(pattern: &str) -> Vec<ProbeSample> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| ProbeSample {
                at_ms: i as f64 * 100.0,
                ok: c == '+',
            })
            .collect()
    }

    #[test]
    fn a_latency_objective_counts_slow_successes_as_unavailable() {
        let window = |second, requests| WindowSummary {
            second,
            requests,
            failures: 0,
            ..WindowSummary::default()
        };
        let windows = [window(4, 10), window(5, 8), window(6, 10)];
        // Every request succeeded, but in second 5 only a quarter did so within the objective.
        let within = [(4, Some(1.0)), (5, Some(0.25)), (6, Some(1.0))];
        let plain = availability(&windows, 4, 6);
        assert_eq!(worst(&plain), Some(1.0));
        let strict = availability_within(&windows, &within, 4, 6);
        assert_eq!(strict.len(), 3);
        assert_eq!(strict[1].successes, 2);
        assert_eq!(worst(&strict), Some(0.25));
        // Outside the fault's seconds nothing is counted.
        assert!(availability_within(&windows, &within, 7, 9).is_empty());
    }

    #[test]
    fn recovery_is_the_first_of_k_healthy_probes_after_injection() {
        let s = samples("+++--+-+++++");
        assert_eq!(first_failure_after(&s, 250.0), Some(300.0));
        assert_eq!(first_healthy_after(&s, 300.0), Some(500.0));
        // 500 is healthy alone; 700..900 is the first run of three.
        assert_eq!(recovered_after(&s, 300.0, 3), Some(700.0));
        assert_eq!(recovered_after(&s, 300.0, 6), None);
        assert_eq!(outage_ms(&s), 300.0);
    }

    #[test]
    fn availability_is_successes_over_attempts_per_second() {
        let windows = vec![
            WindowSummary {
                second: 3,
                requests: 10,
                failures: 0,
                ..WindowSummary::default()
            },
            WindowSummary {
                second: 4,
                requests: 8,
                failures: 6,
                ..WindowSummary::default()
            },
            WindowSummary {
                second: 9,
                requests: 5,
                failures: 5,
                ..WindowSummary::default()
            },
        ];
        let a = availability(&windows, 3, 5);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].availability, 0.25);
        assert_eq!(worst(&a), Some(0.25));
        let p = probe_availability(&samples("++--++++++++"), 2000.0, 0, 100);
        assert_eq!(p[0].second, 2);
        assert_eq!(p[0].requests, 10);
        assert_eq!(p[0].successes, 8);
        assert_eq!(
            drain_ms(&[(100.0, 5.0), (900.0, 2.0), (1500.0, 0.0)], 0.0, 800.0),
            Some(700.0)
        );
    }

    #[test]
    fn a_second_of_hung_requests_is_unavailable_and_a_silent_one_is_counted_apart() {
        use crate::metrics::windows::{Outcome, Windows};
        use std::time::Duration;
        // Second 4: two submits start and hang until second 7 (one fails, one succeeds); in
        // seconds 5 and 6 nothing starts and nothing completes. Second 9 has no traffic at all.
        let mut w = Windows::default();
        w.record(3, Duration::from_millis(20), Outcome::Ok);
        for outcome in [Outcome::Failed, Outcome::Ok] {
            w.record(4, Duration::from_millis(3200), outcome);
            w.record_in_flight(4, 7);
        }
        w.record(8, Duration::from_millis(20), Outcome::Ok);
        w.record(10, Duration::from_millis(20), Outcome::Ok);
        let windows: Vec<WindowSummary> = w.iter().map(|(s, w)| w.summary(s)).collect();
        let a = availability(&windows, 4, 10);
        let by_second: Vec<(u64, f64)> = a.iter().map(|w| (w.second, w.availability)).collect();
        assert_eq!(
            by_second,
            vec![(4, 0.5), (5, 0.0), (6, 0.0), (7, 0.0), (8, 1.0), (10, 1.0)],
            "the seconds clients waited count as 0, not absent"
        );
        assert_eq!(a[1].in_flight, 2);
        assert_eq!(worst(&a), Some(0.0));
        assert_eq!(idle_seconds(&windows, 4, 10), 1, "second 9");
        assert_eq!(idle_seconds(&windows, 5, 4), 0);
    }
}
