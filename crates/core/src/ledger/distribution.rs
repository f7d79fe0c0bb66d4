//! The ledger's histograms per test: time to terminal (submit to the first read that saw the
//! key terminal) and attempts per job. HDR histograms of fixed shape, so memory does not grow
//! with the number of keys and any two merge exactly (tests into a total, or runs together).

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::ledger::summary::Distribution;
use crate::metrics::histogram::LatencyHistogram;

/// Highest attempt count kept exactly; larger counts are clamped to it, never dropped.
const HIGHEST_ATTEMPTS: u64 = 1_000_000;

/// The histograms of one test's keys.
#[derive(Debug, Clone)]
pub struct WorkHistograms {
    time_to_terminal: LatencyHistogram,
    terminal_within: LatencyHistogram,
    attempts: Histogram<u64>,
}

impl Default for WorkHistograms {
    fn default() -> Self {
        WorkHistograms::new()
    }
}

impl WorkHistograms {
    /// Empty histograms.
    pub fn new() -> WorkHistograms {
        WorkHistograms {
            time_to_terminal: LatencyHistogram::new(),
            terminal_within: LatencyHistogram::new(),
            // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
            attempts: Histogram::new_with_bounds(1, HIGHEST_ATTEMPTS, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    /// Record one key's time from submit to the first read that saw it terminal.
    pub fn record_time_to_terminal(&mut self, time: Duration) {
        self.time_to_terminal.record(time);
    }

    /// Record how precisely one key's time to terminal is known (the gap between the read
    /// before and the first read that saw it terminal).
    pub fn record_terminal_within(&mut self, gap: Duration) {
        self.terminal_within.record(gap);
    }

    /// Record one job's attempt count.
    pub fn record_attempts(&mut self, attempts: u64) {
        self.attempts
            .saturating_record(attempts.min(HIGHEST_ATTEMPTS));
    }

    /// Add every value of `other`.
    pub fn merge(&mut self, other: &WorkHistograms) {
        self.time_to_terminal.merge(&other.time_to_terminal);
        self.terminal_within.merge(&other.terminal_within);
        if self.attempts.add(&other.attempts).is_err() {
            for v in other.attempts.iter_recorded() {
                self.attempts
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Percentiles of time to terminal in milliseconds, None if nothing was recorded.
    pub fn time_to_terminal_ms(&self) -> Option<Distribution> {
        in_ms(&self.time_to_terminal)
    }

    /// Percentiles of the precision of time to terminal in milliseconds, None if nothing was
    /// recorded.
    pub fn terminal_within_ms(&self) -> Option<Distribution> {
        in_ms(&self.terminal_within)
    }

    /// Percentiles of attempts per job, None if nothing was recorded.
    pub fn attempts(&self) -> Option<Distribution> {
        let h = &self.attempts;
        if h.is_empty() {
            return None;
        }
        let at = |q: f64| h.value_at_quantile(q) as f64;
        Some(Distribution {
            count: h.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: h.max() as f64,
        })
    }
}

/// The percentiles of a latency histogram in milliseconds, None if it is empty.
fn in_ms(h: &LatencyHistogram) -> Option<Distribution> {
    Some(Distribution {
        count: h.count(),
        p50: h.percentile_ms(50.0)?,
        p95: h.percentile_ms(95.0)?,
        p99: h.percentile_ms(99.0)?,
        max: h.max_ms()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_percentiles_are_exact_for_small_counts() {
        let mut h = WorkHistograms::new();
        assert_eq!(h.attempts(), None);
        assert_eq!(h.time_to_terminal_ms(), None);
        for n in [1, 1, 1, 1, 1, 1, 1, 1, 2, 7] {
            h.record_attempts(n);
        }
        let a = h.attempts().unwrap();
        assert_eq!((a.count, a.p50, a.max), (10, 1.0, 7.0));
        assert_eq!(a.p99, 7.0);
        h.record_attempts(0);
        assert_eq!(h.attempts().unwrap().count, 11);
    }

    #[test]
    fn histograms_merge_exactly() {
        let mut a = WorkHistograms::new();
        let mut b = WorkHistograms::new();
        for ms in 1..=50u64 {
            a.record_time_to_terminal(Duration::from_millis(ms));
        }
        for ms in 51..=100u64 {
            b.record_time_to_terminal(Duration::from_millis(ms));
        }
        b.record_attempts(4);
        a.merge(&b);
        let t = a.time_to_terminal_ms().unwrap();
        assert_eq!(t.count, 100);
        assert!((t.p50 - 50.0).abs() < 0.1, "{t:?}");
        assert!((t.max - 100.0).abs() < 0.1, "{t:?}");
        assert_eq!(a.attempts().unwrap().max, 4.0);
    }
}
