//! Measurements: mergeable HDR histograms per test and step, error signatures, and the summary
//! that reports and thresholds read.
//!
//! [`Measurements`] is the aggregator's final state for one load test. It holds only counters,
//! histograms and a bounded signature table, so its size does not depend on how many requests
//! ran, and two of them (two shards, two runs) merge exactly.

pub mod aggregator;
pub mod generator;
pub mod histogram;
pub mod interval_log;
pub mod signature;
pub mod streams;
pub mod summary;
pub mod thresholds;
pub mod window_thresholds;
pub mod windows;

use std::collections::BTreeMap;
use std::time::Duration;

use histogram::LatencyHistogram;
use signature::SignatureTable;
use summary::{GaugeSummary, LoadSummary, StepSummary};
use windows::Windows;

/// Status classes counted per step, in report order.
pub const STATUS_CLASSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other", "error"];

/// Counts and latencies of one step (or of a whole test).
#[derive(Debug, Clone, Default)]
pub struct StepMetrics {
    /// Step name (metrics of steps with the same name in different scenarios are pooled).
    pub name: String,
    /// Requests sent (every poll attempt counts).
    pub requests: u64,
    /// Requests (or steps that could not send one) whose expectations did not hold.
    pub failures: u64,
    /// Requests that got no response at all.
    pub errors: u64,
    /// Requests abandoned in flight when the test stopped (not in `requests`).
    pub cancelled: u64,
    /// Bytes of response bodies received (read whole or counted and discarded).
    pub bytes_received: u64,
    /// Counts per status class, indexed like [`STATUS_CLASSES`].
    pub status_classes: [u64; STATUS_CLASSES.len()],
    /// Latency of every request that got a response or an error.
    pub latency: LatencyHistogram,
}

impl StepMetrics {
    /// Empty metrics for the step `name`.
    pub fn new(name: &str) -> StepMetrics {
        StepMetrics {
            name: name.to_string(),
            ..StepMetrics::default()
        }
    }

    /// Count one status class ("2xx", "error", ...).
    pub fn count_class(&mut self, class: &str) {
        if let Some(i) = STATUS_CLASSES.iter().position(|c| *c == class) {
            self.status_classes[i] += 1;
        }
    }

    /// Add `other`'s figures.
    pub fn merge(&mut self, other: &StepMetrics) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.cancelled += other.cancelled;
        self.bytes_received += other.bytes_received;
        for (mine, theirs) in self.status_classes.iter_mut().zip(other.status_classes) {
            *mine += theirs;
        }
        self.latency.merge(&other.latency);
    }

    /// The serialisable figures.
    pub fn summary(&self) -> StepSummary {
        StepSummary {
            step: self.name.clone(),
            requests: self.requests,
            failures: self.failures,
            errors: self.errors,
            cancelled: self.cancelled,
            bytes_received: self.bytes_received,
            status_classes: STATUS_CLASSES
                .iter()
                .zip(self.status_classes)
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| (c.to_string(), n))
                .collect(),
            latency_ms: self.latency.summary(),
        }
    }
}

/// Statistics of one sampled gauge. Mergeable (except `last`, which keeps the merged-in value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GaugeStats {
    /// Successful samples.
    pub samples: u64,
    /// Samples that failed (no response, unexpected status, no numeric value).
    pub failed: u64,
    /// Smallest value seen.
    pub min: Option<f64>,
    /// Largest value seen.
    pub max: Option<f64>,
    /// Sum of values, for the mean.
    pub sum: f64,
    /// The most recent value.
    pub last: Option<f64>,
    /// The first failure's message (redacted), so a failing sampler is not silent.
    pub first_error: Option<String>,
}

impl GaugeStats {
    /// Record one successful sample.
    pub fn record(&mut self, value: f64) {
        self.samples += 1;
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
        self.sum += value;
        self.last = Some(value);
    }

    /// Record one failed sample.
    pub fn record_failure(&mut self, error: &str) {
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(signature::truncate(error, signature::MAX_EXAMPLE));
        }
    }

    /// Mean of the successful samples.
    pub fn avg(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.sum / self.samples as f64)
    }

    /// Add `other`'s samples.
    pub fn merge(&mut self, other: &GaugeStats) {
        self.samples += other.samples;
        self.failed += other.failed;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sum += other.sum;
        self.last = other.last.or(self.last);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// The serialisable figures.
    pub fn summary(&self) -> GaugeSummary {
        GaugeSummary {
            samples: self.samples,
            failed_samples: self.failed,
            min: self.min,
            max: self.max,
            avg: self.avg(),
            last: self.last,
        }
    }
}

/// The aggregator's final, mergeable state for one load test.
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    /// Every request of the test.
    pub overall: StepMetrics,
    /// Per step name, in the order steps first appear in the test's scenario mix.
    pub steps: Vec<StepMetrics>,
    /// Iterations that ran to their end (successfully or not).
    pub iterations: u64,
    /// Iterations that ended at a failed step.
    pub failed_iterations: u64,
    /// Failures by signature.
    pub failures: SignatureTable,
    /// Sampled gauges by name.
    pub gauges: BTreeMap<String, GaugeStats>,
    /// WebSocket and SSE steps' stream figures.
    pub streams: streams::StreamMeasurements,
    /// Wall time the test ran.
    pub elapsed: Duration,
    /// Per-second windows keyed by intended start, in seconds since the start of the run.
    pub windows: Windows,
    /// When the test started, as an offset from the start of the run (second 0 of the windows).
    pub started: Duration,
    /// Open model: service time (actual send to the end of the body) of every request sent.
    pub service: LatencyHistogram,
    /// Open model: wait time (intended start to actual send) of every request sent.
    pub wait: LatencyHistogram,
    /// Open model: sends that could not start on time.
    pub dropped: u64,
    /// Open model: scheduled sends cancelled in flight when the test stopped.
    pub cancelled_sends: u64,
    /// Open model: the rate asked for, averaged over the schedule (None for the closed model).
    pub target_rate: Option<f64>,
}

impl Measurements {
    /// Empty measurements with one entry per step name, in order.
    pub fn new<'a>(steps: impl IntoIterator<Item = &'a str>) -> Measurements {
        Measurements {
            overall: StepMetrics::new("*"),
            steps: steps.into_iter().map(StepMetrics::new).collect(),
            ..Measurements::default()
        }
    }

    /// The metrics of the step `name`.
    pub fn step(&self, name: &str) -> Option<&StepMetrics> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Add `other` (another shard of the same test, or another run) to this.
    pub fn merge(&mut self, other: &Measurements) {
        self.overall.merge(&other.overall);
        for theirs in &other.steps {
            match self.steps.iter_mut().find(|s| s.name == theirs.name) {
                Some(mine) => mine.merge(theirs),
                None => self.steps.push(theirs.clone()),
            }
        }
        self.iterations += other.iterations;
        self.failed_iterations += other.failed_iterations;
        self.failures.merge(&other.failures);
        for (name, theirs) in &other.gauges {
            self.gauges.entry(name.clone()).or_default().merge(theirs);
        }
        self.streams.merge(&other.streams);
        // Shards run side by side: the merged test lasted as long as the longest one.
        self.elapsed = self.elapsed.max(other.elapsed);
        self.windows.merge(&other.windows);
        self.started = self.started.min(other.started);
        self.service.merge(&other.service);
        self.wait.merge(&other.wait);
        self.dropped += other.dropped;
        self.cancelled_sends += other.cancelled_sends;
        // Shards of one open-model test each send their share of the rate.
        self.target_rate = match (self.target_rate, other.target_rate) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// Availability per second of the run, from the first to the last second this test
    /// recorded anything in: the share of the requests whose intended start fell in that second
    /// that succeeded within `objective` (None for a second in which none was sent).
    pub fn availability(&self, objective: Duration) -> Vec<(u64, Option<f64>)> {
        self.windows.availability(objective)
    }

    /// The serialisable summary the report embeds.
    pub fn summary(&self) -> LoadSummary {
        let secs = self.elapsed.as_secs_f64();
        LoadSummary {
            requests: self.overall.requests,
            failures: self.overall.failures,
            errors: self.overall.errors,
            cancelled: self.overall.cancelled,
            bytes_received: self.overall.bytes_received,
            iterations: self.iterations,
            failed_iterations: self.failed_iterations,
            duration_ms: secs * 1000.0,
            requests_per_second: if secs > 0.0 {
                self.overall.requests as f64 / secs
            } else {
                0.0
            },
            latency_ms: self.overall.latency.summary(),
            steps: self.steps.iter().map(StepMetrics::summary).collect(),
            gauges: self
                .gauges
                .iter()
                .map(|(name, g)| (name.clone(), g.summary()))
                .collect(),
            error_clusters: self.failures.clusters_over(self.overall.requests),
            streams: self.streams.summary(),
            timeline: self.windows.summaries(),
            open_model: generator::open_model(self),
            warnings: generator::warnings(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_merge_by_step_name() {
        let mut a = Measurements::new(["login", "create"]);
        a.steps[0].requests = 2;
        a.steps[0].count_class("2xx");
        a.overall.requests = 2;
        a.iterations = 1;
        a.gauges.entry("q".into()).or_default().record(3.0);
        a.elapsed = Duration::from_secs(2);
        let mut b = Measurements::new(["create", "fetch"]);
        b.steps[0].requests = 5;
        b.steps[0].failures = 1;
        b.overall.requests = 5;
        b.overall.failures = 1;
        b.failures.add("5xx POST create: boom".into(), "boom");
        b.gauges.entry("q".into()).or_default().record(7.0);
        b.elapsed = Duration::from_secs(1);
        a.merge(&b);
        assert_eq!(
            a.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["login", "create", "fetch"]
        );
        assert_eq!(a.step("create").map(|s| s.requests), Some(5));
        let s = a.summary();
        assert_eq!(s.requests, 7);
        assert_eq!(s.failures, 1);
        assert_eq!(s.error_clusters.len(), 1);
        assert_eq!(s.gauges["q"].max, Some(7.0));
        assert_eq!(s.gauges["q"].avg, Some(5.0));
        assert_eq!(s.duration_ms, 2000.0);
        assert_eq!(s.steps[0].status_classes["2xx"], 1);
    }
}
