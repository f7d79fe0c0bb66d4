//! Per-second windows: counts and low-precision HDR histograms for each 1-second window of a
//! run, keyed by each request's intended start (for the closed model, its actual send time), in
//! whole seconds since the start of the run, so that every test and fault shares one time axis.
//!
//! Memory is bounded: a window holds two histograms at two significant digits whose size grows
//! with the largest latency recorded in that second (a few kilobytes for sub-second latencies),
//! never with the number of requests, and there are at most [`MAX_WINDOWS`] of them (a run is
//! bounded by its plan's `limits.duration` anyway). Windows are what the timeline of the report,
//! the HdrHistogram interval log, window-scoped thresholds and availability per second read.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::summary::WindowSummary;

/// Precision of window histograms: two significant digits (1% relative error).
pub const WINDOW_SIGFIG: u8 = 2;
/// Most windows kept: one day of seconds. Later samples still count in the test's totals.
pub const MAX_WINDOWS: u64 = 86_400;
/// Highest latency a window records, in microseconds (one hour); longer values are clamped.
const HIGHEST_US: u64 = 3_600_000_000;

/// How one request ended, as a window counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It got a response and every expectation held.
    Ok,
    /// It got a response, but an expectation did not hold.
    Failed,
    /// It got no response at all (connect error, timeout, reset).
    Error,
}

/// One second of a load test.
#[derive(Debug, Clone)]
pub struct Window {
    /// Requests sent whose intended start fell in this second.
    pub requests: u64,
    /// Of those, how many failed (errors included), plus steps that failed before sending.
    pub failures: u64,
    /// Of the requests, how many got no response.
    pub errors: u64,
    /// Open model: sends scheduled in this second that could not start on time.
    pub dropped: u64,
    /// Open model: requests sent on a schedule (the first of each iteration), and the sums of
    /// their wait and service times in microseconds, for the means per second.
    pub scheduled: u64,
    /// Sum of wait times (intended start to send), microseconds.
    pub wait_us: u64,
    /// Sum of service times (send to the end of the body), microseconds.
    pub service_us: u64,
    /// Requests that started in an earlier second and were still in flight in this one: a
    /// second where clients waited on a hung service is not a second without traffic.
    pub in_flight: u64,
    /// Response times of the requests that succeeded, in microseconds.
    ok: Histogram<u32>,
    /// Response times of the requests that failed, in microseconds.
    failed: Histogram<u32>,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            requests: 0,
            failures: 0,
            errors: 0,
            dropped: 0,
            scheduled: 0,
            wait_us: 0,
            service_us: 0,
            in_flight: 0,
            ok: empty_histogram(),
            failed: empty_histogram(),
        }
    }
}

/// An auto-resizing histogram: it only grows as far as the largest value it holds.
fn empty_histogram() -> Histogram<u32> {
    Histogram::new(WINDOW_SIGFIG).expect("constant histogram precision is valid")
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HIGHEST_US)
}

impl Window {
    /// Record one request that was sent, with its response time.
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        self.requests += 1;
        let us = micros(latency);
        match outcome {
            Outcome::Ok => record(&mut self.ok, us),
            Outcome::Failed | Outcome::Error => {
                self.failures += 1;
                record(&mut self.failed, us);
                if outcome == Outcome::Error {
                    self.errors += 1;
                }
            }
        }
    }

    /// Open model: add one scheduled request's wait and service time.
    pub fn record_timing(&mut self, wait: Duration, service: Duration) {
        self.scheduled += 1;
        self.wait_us = self.wait_us.saturating_add(micros(wait));
        self.service_us = self.service_us.saturating_add(micros(service));
    }

    /// Open model: mean (wait, service) time in milliseconds of the scheduled requests.
    pub fn mean_timing_ms(&self) -> Option<(f64, f64)> {
        (self.scheduled > 0).then(|| {
            let n = self.scheduled as f64 * 1000.0;
            (self.wait_us as f64 / n, self.service_us as f64 / n)
        })
    }

    /// Add `other`'s figures.
    pub fn merge(&mut self, other: &Window) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.dropped += other.dropped;
        self.scheduled += other.scheduled;
        self.wait_us = self.wait_us.saturating_add(other.wait_us);
        self.service_us = self.service_us.saturating_add(other.service_us);
        self.in_flight += other.in_flight;
        add(&mut self.ok, &other.ok);
        add(&mut self.failed, &other.failed);
    }

    /// Response times of every request sent in this second, successful or not (microseconds).
    pub fn latency(&self) -> Histogram<u32> {
        let mut all = self.ok.clone();
        add(&mut all, &self.failed);
        all
    }

    /// Requests that succeeded within `objective`, or None if none was sent. The objective is
    /// compared at the histogram's resolution (1%).
    pub fn succeeded_within(&self, objective: Duration) -> Option<u64> {
        if self.requests == 0 {
            return None;
        }
        if self.ok.is_empty() {
            return Some(0);
        }
        Some(self.ok.count_between(0, micros(objective)))
    }

    /// The share of the requests sent in this second that succeeded within `objective`; None
    /// if none was sent.
    pub fn availability(&self, objective: Duration) -> Option<f64> {
        let ok = self.succeeded_within(objective)?;
        Some(ok as f64 / self.requests as f64)
    }

    /// The serialisable figures of second `second`.
    pub fn summary(&self, second: u64) -> WindowSummary {
        let all = self.latency();
        let p = |q: f64| {
            if all.is_empty() {
                0.0
            } else {
                all.value_at_quantile(q) as f64 / 1000.0
            }
        };
        WindowSummary {
            second,
            requests: self.requests,
            failures: self.failures,
            p50: p(0.50),
            p95: p(0.95),
            p99: p(0.99),
            in_flight: self.in_flight,
        }
    }
}

/// Record `us`, growing the histogram as needed (`saturating_record` would clamp to its current
/// range instead of growing it).
fn record(h: &mut Histogram<u32>, us: u64) {
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// Add `from` into `into`. Both auto-resize, so this only fails if a count overflows usize
/// indexing, which bounded latencies cannot cause; fall back to value-by-value adding anyway.
fn add(into: &mut Histogram<u32>, from: &Histogram<u32>) {
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// The windows of one load test, by second since the start of the run.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    by_second: BTreeMap<u64, Window>,
}

impl Windows {
    /// The window of `second`, created if needed; None past [`MAX_WINDOWS`].
    pub fn at(&mut self, second: u64) -> Option<&mut Window> {
        if second >= MAX_WINDOWS {
            return None;
        }
        Some(self.by_second.entry(second).or_default())
    }

    /// Record one sent request whose intended start was `second`.
    pub fn record(&mut self, second: u64, latency: Duration, outcome: Outcome) {
        if let Some(w) = self.at(second) {
            w.record(latency, outcome);
        }
    }

    /// Mark a request that started in `second` and ended in `end_second` as in flight in each
    /// second after its start, up to its end.
    pub fn record_in_flight(&mut self, second: u64, end_second: u64) {
        for s in second.saturating_add(1)..=end_second.min(MAX_WINDOWS.saturating_sub(1)) {
            if let Some(w) = self.at(s) {
                w.in_flight += 1;
            }
        }
    }

    /// Count a step that failed before it could send a request.
    pub fn record_unsent_failure(&mut self, second: u64) {
        if let Some(w) = self.at(second) {
            w.failures += 1;
        }
    }

    /// Count a send that could not start on time.
    pub fn record_dropped(&mut self, second: u64) {
        if let Some(w) = self.at(second) {
            w.dropped += 1;
        }
    }

    /// Add `other`'s windows, second by second.
    pub fn merge(&mut self, other: &Windows) {
        for (second, theirs) in &other.by_second {
            self.by_second.entry(*second).or_default().merge(theirs);
        }
    }

    /// Whether no window holds anything.
    pub fn is_empty(&self) -> bool {
        self.by_second.is_empty()
    }

    /// The windows that hold something, in time order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Window)> {
        self.by_second.iter().map(|(s, w)| (*s, w))
    }

    /// The first and last second that hold something.
    pub fn span(&self) -> Option<(u64, u64)> {
        let first = *self.by_second.keys().next()?;
        let last = *self.by_second.keys().next_back()?;
        Some((first, last))
    }

    /// The window of `second`, if anything was recorded in it.
    pub fn get(&self, second: u64) -> Option<&Window> {
        self.by_second.get(&second)
    }

    /// Availability per second, from the first to the last second with anything recorded
    /// (seconds in between with no request are None): the share of the requests sent in each
    /// second that succeeded within `objective`.
    pub fn availability(&self, objective: Duration) -> Vec<(u64, Option<f64>)> {
        let Some((first, last)) = self.span() else {
            return Vec::new();
        };
        (first..=last)
            .map(|s| (s, self.get(s).and_then(|w| w.availability(objective))))
            .collect()
    }

    /// The windows of the seconds `seconds` merged into one (for thresholds over a time range
    /// or a fault window). Seconds with nothing recorded add nothing.
    pub fn select(&self, seconds: impl IntoIterator<Item = u64>) -> Window {
        let mut merged = Window::default();
        for s in seconds {
            if let Some(w) = self.get(s) {
                merged.merge(w);
            }
        }
        merged
    }

    /// The serialisable timeline: one entry per second with anything recorded.
    pub fn summaries(&self) -> Vec<WindowSummary> {
        self.iter().map(|(s, w)| w.summary(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn windows_count_and_rank_per_second() {
        let mut w = Windows::default();
        for i in 1..=100u64 {
            w.record(3, ms(i), Outcome::Ok);
        }
        w.record(3, ms(900), Outcome::Error);
        w.record(5, ms(2), Outcome::Failed);
        w.record_unsent_failure(5);
        w.record_dropped(5);
        let t = w.summaries();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].second, t[0].requests, t[0].failures), (3, 101, 1));
        assert!((t[0].p50 - 51.0).abs() < 1.0, "p50 {}", t[0].p50);
        assert!((t[0].p99 - 100.0).abs() < 1.5, "p99 {}", t[0].p99);
        assert_eq!((t[1].second, t[1].requests, t[1].failures), (5, 1, 2));
        assert_eq!(w.get(5).map(|w| w.dropped), Some(1));
        assert_eq!(w.get(3).map(|w| w.errors), Some(1));
    }

    #[test]
    fn availability_counts_successes_within_the_objective() {
        let mut w = Windows::default();
        // Second 10: 8 fast successes, one slow success, one failure.
        for _ in 0..8 {
            w.record(10, ms(5), Outcome::Ok);
        }
        w.record(10, ms(800), Outcome::Ok);
        w.record(10, ms(1), Outcome::Error);
        // Second 12: everything fast.
        w.record(12, ms(5), Outcome::Ok);
        let a = w.availability(ms(100));
        assert_eq!(a, [(10, Some(0.8)), (11, None), (12, Some(1.0))]);
        let a = w.availability(Duration::from_secs(1));
        assert_eq!(a[0], (10, Some(0.9)));
        assert!(Windows::default().availability(ms(1)).is_empty());
    }

    #[test]
    fn merging_and_selecting_add_up() {
        let mut a = Windows::default();
        let mut b = Windows::default();
        a.record(1, ms(10), Outcome::Ok);
        b.record(1, ms(30), Outcome::Failed);
        b.record(2, ms(20), Outcome::Ok);
        a.merge(&b);
        assert_eq!(a.get(1).map(|w| (w.requests, w.failures)), Some((2, 1)));
        let sel = a.select(1..=2);
        assert_eq!((sel.requests, sel.failures), (3, 1));
        let h = sel.latency();
        assert_eq!(h.len(), 3);
        assert!((h.max() as f64 / 1000.0 - 30.0).abs() < 0.5);
        assert_eq!(a.select(5..9).requests, 0);
    }

    #[test]
    fn memory_is_bounded_by_seconds_not_requests() {
        let mut w = Windows::default();
        for i in 0..200_000u64 {
            w.record(i % 3, Duration::from_micros(100 + i % 5000), Outcome::Ok);
        }
        assert_eq!(w.iter().count(), 3);
        assert!(w.at(MAX_WINDOWS).is_none(), "no window past the cap");
    }
}
