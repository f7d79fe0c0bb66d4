//! The load generator's own health in the open model: the figures that say whether the rate
//! asked for was really sent, and the warnings that say when it was not.
//!
//! Two things make open-model numbers mean less than they seem: sends that could not start on
//! time (`dropped`), and a generator that is itself the bottleneck, which shows as wait time
//! (intended start to actual send) growing over the test while the target's service time stays
//! flat. Both are reported as warnings, never hidden behind lower numbers.

use super::Measurements;
use super::summary::OpenModelSummary;

/// Wait time must grow by at least this much (ms, mean per second) to count as growing.
const WAIT_GROWTH_MS: f64 = 5.0;

/// The open model's figures, None for the closed model.
pub fn open_model(m: &Measurements) -> Option<OpenModelSummary> {
    let target_rate = m.target_rate?;
    let scheduled: u64 = m.windows.iter().map(|(_, w)| w.scheduled).sum();
    Some(OpenModelSummary {
        target_rate,
        // Sent and answered, cancelled in flight, or dropped: every send the schedule held.
        scheduled: scheduled + m.cancelled_sends + m.dropped,
        dropped: m.dropped,
        wait_ms: m.wait.summary(),
        service_ms: m.service.summary(),
    })
}

/// Warnings about the open model's figures, empty for the closed model or a healthy run.
pub fn warnings(m: &Measurements) -> Vec<String> {
    let Some(open) = open_model(m) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if open.dropped > 0 {
        out.push(format!(
            "{} of {} scheduled sends were dropped ({:.2}%): they could not start on time \
             because every in-flight slot was busy or the generator fell behind, so the target \
             rate of {}/s was not reached; raise max_in_flight, lower the rate, or give the \
             generator more CPU",
            open.dropped,
            open.scheduled,
            open.dropped as f64 * 100.0 / open.scheduled.max(1) as f64,
            round(open.target_rate)
        ));
    }
    if let Some((first, last)) = wait_trend(m) {
        let (wait_first, service_first) = first;
        let (wait_last, service_last) = last;
        let wait_grew = wait_last > wait_first * 2.0 && wait_last - wait_first >= WAIT_GROWTH_MS;
        let service_flat = service_last <= service_first * 1.5 + 1.0;
        if wait_grew && service_flat {
            out.push(format!(
                "the load generator is the bottleneck: the wait before sending grew from {:.1}ms \
                 to {:.1}ms while the target's service time stayed at {:.1}ms to {:.1}ms; the \
                 latencies include the generator's delay, so lower the rate or give the \
                 generator more CPU",
                wait_first, wait_last, service_first, service_last
            ));
        }
    }
    out
}

/// Mean (wait, service) in ms over the first and the last third of the seconds with scheduled
/// requests; None with fewer than three such seconds.
fn wait_trend(m: &Measurements) -> Option<((f64, f64), (f64, f64))> {
    let seconds: Vec<_> = m
        .windows
        .iter()
        .filter(|(_, w)| w.scheduled > 0)
        .map(|(_, w)| w)
        .collect();
    if seconds.len() < 3 {
        return None;
    }
    let third = seconds.len() / 3;
    let mean = |part: &[&super::windows::Window]| {
        let n: u64 = part.iter().map(|w| w.scheduled).sum();
        let wait: u64 = part.iter().map(|w| w.wait_us).sum();
        let service: u64 = part.iter().map(|w| w.service_us).sum();
        let n = n.max(1) as f64 * 1000.0;
        (wait as f64 / n, service as f64 / n)
    };
    Some((
        mean(&seconds[..third]),
        mean(&seconds[seconds.len() - third..]),
    ))
}

fn round(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::windows::Outcome;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Nine seconds of scheduled requests whose wait is `wait(second)` and service `service`.
    fn run(wait: impl Fn(u64) -> u64, service: impl Fn(u64) -> u64) -> Measurements {
        let mut m = Measurements::new(["get"]);
        m.target_rate = Some(100.0);
        for s in 0..9u64 {
            for _ in 0..100 {
                m.windows.record(s, ms(wait(s) + service(s)), Outcome::Ok);
                if let Some(w) = m.windows.at(s) {
                    w.record_timing(ms(wait(s)), ms(service(s)));
                }
            }
        }
        m
    }

    #[test]
    fn a_closed_model_has_no_open_figures_or_warnings() {
        let m = Measurements::new(["get"]);
        assert_eq!(open_model(&m), None);
        assert!(warnings(&m).is_empty());
    }

    #[test]
    fn a_healthy_open_run_has_no_warning() {
        let m = run(|_| 0, |_| 2);
        assert!(warnings(&m).is_empty(), "{:?}", warnings(&m));
        let open = open_model(&m).unwrap();
        assert_eq!((open.scheduled, open.dropped), (900, 0));
    }

    #[test]
    fn a_slow_target_is_not_the_generators_fault() {
        // Wait grows because the target got slower: service time grows with it.
        let m = run(|s| s * 10, |s| 2 + s * 50);
        assert!(warnings(&m).is_empty(), "{:?}", warnings(&m));
    }

    #[test]
    fn growing_wait_over_flat_service_blames_the_generator() {
        let m = run(|s| s * 20, |_| 2);
        let w = warnings(&m);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("load generator is the bottleneck"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn dropped_sends_are_a_warning_with_the_share() {
        let mut m = run(|_| 0, |_| 2);
        m.dropped = 100;
        let w = warnings(&m);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("100 of 1000 scheduled sends were dropped (10.00%)"),
            "{}",
            w[0]
        );
        assert!(w[0].contains("100/s"), "{}", w[0]);
    }
}
