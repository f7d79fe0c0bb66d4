//! The serialisable summary of one load test's measurements: what the report model embeds and
//! what thresholds are evaluated against. Computed once from the aggregator's histograms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of recorded latencies.
    pub count: u64,
    /// Minimum.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// Counts and latencies of one step (or of the whole test).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Step name.
    pub step: String,
    /// Requests sent (every attempt of a poll counts).
    pub requests: u64,
    /// Requests whose expectations did not hold, errors included.
    pub failures: u64,
    /// Requests that got no response at all.
    pub errors: u64,
    /// Requests abandoned in flight when the test stopped (not counted in `requests`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancelled: u64,
    /// Bytes of response bodies received.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_received: u64,
    /// Responses by status class: "2xx", "4xx", "5xx", "error".
    pub status_classes: BTreeMap<String, u64>,
    /// Latency of every request of the step.
    pub latency_ms: LatencySummary,
}

/// A cluster of failures sharing one signature ("5xx POST create: 503 Service Unavailable").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCluster {
    /// The normalised signature (status class plus normalised error text).
    pub signature: String,
    /// How many failures had it.
    pub count: u64,
    /// One raw example message (redacted).
    pub example: String,
    /// Its share of the test's requests, from 0 to 1 (a step that failed before it could send
    /// counts as a failure but not as a request, so the share is capped at 1).
    #[serde(default)]
    pub share: f64,
    /// The first second (since the start of the run) a failure with it was seen, if known.
    #[serde(default)]
    pub first_second: Option<u64>,
    /// The last second (since the start of the run) a failure with it was seen, if known.
    #[serde(default)]
    pub last_second: Option<u64>,
    /// Up to three distinct example messages (redacted), first seen first.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Whether its failures fall inside a fault window of the check; None when the check
    /// injected no fault (or the times are unknown).
    #[serde(default)]
    pub during_fault: Option<bool>,
}

/// Summary of a sampled gauge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GaugeSummary {
    /// Successful samples.
    pub samples: u64,
    /// Samples that failed (request error or non-numeric value).
    pub failed_samples: u64,
    /// Minimum observed value.
    pub min: Option<f64>,
    /// Maximum observed value.
    pub max: Option<f64>,
    /// Mean of observed values.
    pub avg: Option<f64>,
    /// Last observed value.
    pub last: Option<f64>,
}

/// Everything measured in one load test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Requests sent.
    pub requests: u64,
    /// Requests whose expectations did not hold, errors included.
    pub failures: u64,
    /// Requests that got no response.
    pub errors: u64,
    /// Requests abandoned in flight when the test stopped: by cancellation, the run's deadline,
    /// or the end of the test's `graceful_stop`. They got no answer to judge, so they are not
    /// counted in `requests`, `failures` or the latencies.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancelled: u64,
    /// Bytes of response bodies received: read whole when a check needs them, counted and
    /// discarded otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_received: u64,
    /// Scenario iterations completed (successfully or not).
    pub iterations: u64,
    /// Iterations that failed at some step.
    pub failed_iterations: u64,
    /// Wall time of the test, milliseconds.
    pub duration_ms: f64,
    /// Requests per second over the test's duration.
    pub requests_per_second: f64,
    /// Latency over all requests.
    pub latency_ms: LatencySummary,
    /// Per-step figures, in scenario order.
    pub steps: Vec<StepSummary>,
    /// Sampled gauges by name.
    pub gauges: BTreeMap<String, GaugeSummary>,
    /// Failures clustered by signature, largest first.
    pub error_clusters: Vec<ErrorCluster>,
    /// WebSocket and SSE steps: time to first event, between events and to the final event,
    /// how streams ended, and close codes. Absent when the test has no stream step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<super::streams::StreamStepSummary>,
    /// Per-second windows keyed by each request's intended start, in seconds since the start of
    /// the run, so that every test and fault window shares one time axis.
    #[serde(default)]
    pub timeline: Vec<WindowSummary>,
    /// Open model only: the schedule, the sends it could not start, and latency split into
    /// wait and service time. Absent for the closed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_model: Option<OpenModelSummary>,
    /// Warnings about the figures themselves (dropped sends, a load generator that was the
    /// bottleneck): the numbers are real, but they do not measure what was asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl LoadSummary {
    /// Why a check that sent requests cannot pass whatever its thresholds: not one of them
    /// succeeded, so nothing the service did was observed to work. None if one did, or if none
    /// was sent (that is INCONCLUSIVE, judged apart).
    ///
    /// Requests cancelled in flight count as sent and not successful: a server that never
    /// answers fails, however the test ended.
    pub fn nothing_succeeded(&self) -> Option<String> {
        if self.requests == 0 && self.cancelled > 0 {
            return Some(format!(
                "no request succeeded: all {} were cancelled in flight when the test stopped, with no answer, so nothing was observed to work",
                self.cancelled
            ));
        }
        let cancelled = if self.cancelled > 0 {
            format!(", and {} more were cancelled in flight", self.cancelled)
        } else {
            String::new()
        };
        (self.requests > 0 && self.failures >= self.requests).then(|| {
            format!(
                "no request succeeded: all {} failed ({} got no answer{cancelled}), so nothing was observed to work",
                self.requests, self.errors
            )
        })
    }
}

/// The open model's own figures. `latency_ms` of the test is the response time: from each
/// iteration's intended start to the end of its first request's body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenModelSummary {
    /// The rate asked for, averaged over the schedule, per second.
    pub target_rate: f64,
    /// Sends the schedule held up to where the test stopped.
    pub scheduled: u64,
    /// Sends that could not start on time (every in-flight slot busy, or too late to send).
    pub dropped: u64,
    /// From the intended start to the actual send.
    pub wait_ms: LatencySummary,
    /// From the actual send to the end of the body.
    pub service_ms: LatencySummary,
}

/// One second of a load test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// Seconds since the start of the run (by intended start time).
    pub second: u64,
    /// Requests whose intended start fell in this second.
    pub requests: u64,
    /// Of those, how many failed.
    pub failures: u64,
    /// Median latency in ms.
    pub p50: f64,
    /// 95th percentile latency in ms.
    pub p95: f64,
    /// 99th percentile latency in ms.
    pub p99: f64,
    /// Requests started in an earlier second and still in flight in this one.
    #[serde(default, skip_serializing_if = "crate::metrics::summary::is_zero")]
    pub in_flight: u64,
}

/// For `skip_serializing_if`: a count of zero is left out.
pub fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_cancelled_in_flight_are_not_successes() {
        let none = LoadSummary::default();
        assert_eq!(
            none.nothing_succeeded(),
            None,
            "nothing sent is judged apart"
        );
        let cancelled = LoadSummary {
            cancelled: 4,
            ..LoadSummary::default()
        };
        let why = cancelled.nothing_succeeded().unwrap_or_default();
        assert!(
            why.starts_with("no request succeeded: all 4 were cancelled in flight"),
            "{why}"
        );
        let failed = LoadSummary {
            requests: 3,
            failures: 3,
            errors: 3,
            cancelled: 2,
            ..LoadSummary::default()
        };
        let why = failed.nothing_succeeded().unwrap_or_default();
        assert!(
            why.contains("all 3 failed (3 got no answer, and 2 more were cancelled in flight)"),
            "{why}"
        );
        let one_ok = LoadSummary {
            requests: 3,
            failures: 2,
            cancelled: 5,
            ..LoadSummary::default()
        };
        assert_eq!(one_ok.nothing_succeeded(), None);
    }
}
