//! A latency histogram in microseconds: a thin wrapper over an HDR histogram with fixed bounds,
//! so that every histogram of a run has the same shape and any two merge exactly.
//!
//! Memory is constant in the number of recorded values (about 200 KB per histogram at three
//! significant digits), which is what lets a long run keep every latency without keeping samples.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::summary::LatencySummary;

/// Highest trackable latency: one hour. Longer values are clamped to it, never dropped.
const HIGHEST_US: u64 = 3_600_000_000;
/// Precision: three significant digits (0.1% relative error).
const SIGFIG: u8 = 3;

/// A mergeable latency histogram, recording microseconds and reporting milliseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
        let inner = Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG)
            .expect("constant histogram bounds are valid");
        LatencyHistogram { inner }
    }

    /// Record one latency (clamped to the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.inner.saturating_record(us.clamp(1, HIGHEST_US));
    }

    /// Number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Add every value of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if self.inner.add(&other.inner).is_err() {
            // Only possible if the shapes differ; record value by value instead.
            for v in other.inner.iter_recorded() {
                self.inner
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// The latency at `percentile` (0-100) in milliseconds, None if empty.
    pub fn percentile_ms(&self, percentile: f64) -> Option<f64> {
        (!self.is_empty())
            .then(|| us_to_ms(self.inner.value_at_percentile(percentile.clamp(0.0, 100.0))))
    }

    /// Minimum in milliseconds, None if empty.
    pub fn min_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| us_to_ms(self.inner.min()))
    }

    /// Maximum in milliseconds, None if empty.
    pub fn max_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| us_to_ms(self.inner.max()))
    }

    /// Mean in milliseconds, None if empty.
    pub fn mean_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.inner.mean() / 1000.0)
    }

    /// The serialisable figures.
    pub fn summary(&self) -> LatencySummary {
        if self.is_empty() {
            return LatencySummary::default();
        }
        let p = |q: f64| self.percentile_ms(q).unwrap_or(0.0);
        LatencySummary {
            count: self.count(),
            min: self.min_ms().unwrap_or(0.0),
            mean: self.mean_ms().unwrap_or(0.0),
            p50: p(50.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            max: self.max_ms().unwrap_or(0.0),
        }
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_microseconds_and_reports_milliseconds() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.percentile_ms(95.0), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p95 = h.percentile_ms(95.0).unwrap();
        assert!((p95 - 95.0).abs() < 0.2, "p95 {p95}");
        assert!((h.min_ms().unwrap() - 1.0).abs() < 0.01);
        assert!((h.max_ms().unwrap() - 100.0).abs() < 0.2);
    }

    #[test]
    fn merging_equals_recording_into_one() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        let mut all = LatencyHistogram::new();
        for ms in 1..=50u64 {
            a.record(Duration::from_millis(ms));
            all.record(Duration::from_millis(ms));
        }
        for ms in 51..=100u64 {
            b.record(Duration::from_millis(ms * 10));
            all.record(Duration::from_millis(ms * 10));
        }
        a.merge(&b);
        assert_eq!(a.summary(), all.summary());
    }

    #[test]
    fn huge_values_are_clamped_not_dropped() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_secs(10 * 3600));
        h.record(Duration::ZERO);
        assert_eq!(h.count(), 2);
    }
}
