//! The aggregator: the one task that owns a load test's statistics.
//!
//! Virtual users and gauge samplers send small [`Event`]s over a bounded channel; the aggregator
//! folds them into [`Measurements`] and updates a few atomic [`LiveCounters`] that the progress
//! display reads. Nothing else touches the statistics, so there are no locks on the hot path, and
//! the channel's bound pushes back on the senders if the aggregator ever falls behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Measurements;
use super::signature::{signature, status_class};
use crate::report::redact::Redactor;

/// Capacity of the sample channel: enough to absorb bursts, small enough to bound memory.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Most events the aggregator takes from the channel at once.
const BATCH: usize = 256;

/// One request's result (or a step that failed before it could send one).
#[derive(Debug)]
pub struct RequestSample {
    /// Index of the step in [`Measurements::steps`].
    pub step: u32,
    /// Time from sending to the end of the body; None if no request was sent.
    pub latency: Option<Duration>,
    /// The response status; None if there was no response.
    pub status: Option<u16>,
    /// Why the request failed, if it did. Boxed: the common case carries none.
    pub failure: Option<Box<Failure>>,
}

/// Why a request or step failed.
#[derive(Debug)]
pub struct Failure {
    /// The request method, for the signature.
    pub method: &'static str,
    /// What went wrong, in plain words (redacted by the aggregator before it is kept).
    pub message: String,
}

/// What virtual users and samplers report.
#[derive(Debug)]
pub enum Event {
    /// A request completed (or a step failed before sending).
    Request(RequestSample),
    /// An iteration ran to its end.
    Iteration {
        /// Whether it ended at a failed step.
        failed: bool,
    },
    /// A gauge was sampled.
    Gauge {
        /// Index of the gauge in the names given to [`Aggregator::new`].
        gauge: u32,
        /// The value, or why sampling failed.
        value: Result<f64, String>,
    },
}

/// Counters the aggregator keeps current for the progress display. Read-only for everyone else.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Requests recorded so far.
    pub requests: AtomicU64,
    /// Failures recorded so far.
    pub failures: AtomicU64,
    /// Iterations recorded so far.
    pub iterations: AtomicU64,
}

impl LiveCounters {
    /// (requests, failures, iterations) as of now.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
            self.iterations.load(Ordering::Relaxed),
        )
    }
}

/// Folds events into measurements.
#[derive(Debug)]
pub struct Aggregator {
    measurements: Measurements,
    gauges: Vec<String>,
    redactor: Redactor,
    live: Arc<LiveCounters>,
}

impl Aggregator {
    /// An aggregator for a test with these step names and gauge names (events refer to both by
    /// index).
    pub fn new(
        steps: &[String],
        gauges: &[String],
        redactor: Redactor,
        live: Arc<LiveCounters>,
    ) -> Aggregator {
        let mut measurements = Measurements::new(steps.iter().map(String::as_str));
        for name in gauges {
            measurements.gauges.entry(name.clone()).or_default();
        }
        Aggregator {
            measurements,
            gauges: gauges.to_vec(),
            redactor,
            live,
        }
    }

    /// Fold one event in.
    pub fn record(&mut self, event: Event) {
        match event {
            Event::Request(sample) => self.record_request(sample),
            Event::Iteration { failed } => {
                self.measurements.iterations += 1;
                if failed {
                    self.measurements.failed_iterations += 1;
                }
                self.live.iterations.fetch_add(1, Ordering::Relaxed);
            }
            Event::Gauge { gauge, value } => {
                let Some(name) = self.gauges.get(gauge as usize) else {
                    return;
                };
                let stats = self.measurements.gauges.entry(name.clone()).or_default();
                match value {
                    Ok(v) => stats.record(v),
                    Err(e) => {
                        let e = self.redactor.redact(&e);
                        if stats.failed == 0 {
                            tracing::warn!(gauge = %name, error = %e, "load: a gauge sample failed");
                        }
                        stats.record_failure(&e);
                    }
                }
            }
        }
    }

    fn record_request(&mut self, sample: RequestSample) {
        let m = &mut self.measurements;
        let Some(step) = m.steps.get_mut(sample.step as usize) else {
            return;
        };
        let sent = sample.latency.is_some();
        let class = status_class(sample.status);
        if sent {
            for s in [&mut *step, &mut m.overall] {
                s.requests += 1;
                s.count_class(class);
                if sample.status.is_none() {
                    s.errors += 1;
                }
                if let Some(latency) = sample.latency {
                    s.latency.record(latency);
                }
            }
            self.live.requests.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(failure) = sample.failure {
            step.failures += 1;
            m.overall.failures += 1;
            let message = self.redactor.redact(&failure.message);
            let sig = signature(sample.status, failure.method, &step.name, &message);
            m.failures.add(sig, &message);
            self.live.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The measurements so far.
    pub fn finish(self) -> Measurements {
        self.measurements
    }

    /// Run the aggregator until every sender of `rx` is dropped, then return the measurements.
    pub fn spawn(mut self, mut rx: mpsc::Receiver<Event>) -> JoinHandle<Measurements> {
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                for event in batch.drain(..) {
                    self.record(event);
                }
            }
            self.finish()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{SecretValue, Secrets};

    fn aggregator() -> Aggregator {
        let mut secrets = Secrets::default();
        secrets.values.insert(
            "key".into(),
            SecretValue {
                env: "K".into(),
                value: "hunter2-secret".into(),
            },
        );
        Aggregator::new(
            &["login".into(), "create".into()],
            &["queue".into()],
            Redactor::new(&secrets),
            Arc::default(),
        )
    }

    #[test]
    fn requests_failures_and_errors_are_counted_per_step_and_overall() {
        let mut a = aggregator();
        let ok = |step| {
            Event::Request(RequestSample {
                step,
                latency: Some(Duration::from_millis(5)),
                status: Some(200),
                failure: None,
            })
        };
        a.record(ok(0));
        a.record(ok(1));
        a.record(Event::Request(RequestSample {
            step: 1,
            latency: Some(Duration::from_millis(9)),
            status: Some(503),
            failure: Some(Box::new(Failure {
                method: "POST",
                message: "status 503, expected [201]: run 42 failed, key hunter2-secret".into(),
            })),
        }));
        a.record(Event::Request(RequestSample {
            step: 1,
            latency: Some(Duration::from_millis(1)),
            status: None,
            failure: Some(Box::new(Failure {
                method: "POST",
                message: "connect: Connection refused".into(),
            })),
        }));
        a.record(Event::Iteration { failed: true });
        a.record(Event::Gauge {
            gauge: 0,
            value: Ok(4.0),
        });
        a.record(Event::Gauge {
            gauge: 0,
            value: Err("status 401".into()),
        });
        let live = a.live.clone();
        let m = a.finish();
        assert_eq!(m.overall.requests, 4);
        assert_eq!(m.overall.failures, 2);
        assert_eq!(m.overall.errors, 1);
        assert_eq!(m.step("create").map(|s| s.requests), Some(3));
        assert_eq!(m.step("login").map(|s| s.failures), Some(0));
        assert_eq!(m.failed_iterations, 1);
        let sig = "5xx POST create: status 503, expected [201]: run <n> failed, key [REDACTED:key]";
        assert_eq!(m.failures.count(sig), 1);
        assert!(
            m.failures
                .clusters()
                .iter()
                .all(|c| !c.example.contains("hunter2"))
        );
        assert_eq!(m.gauges["queue"].samples, 1);
        assert_eq!(m.gauges["queue"].failed, 1);
        assert_eq!(live.snapshot(), (4, 2, 1));
    }

    #[tokio::test]
    async fn the_task_drains_the_channel_and_ends_when_senders_drop() {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let handle = aggregator().spawn(rx);
        for _ in 0..1000 {
            tx.send(Event::Iteration { failed: false }).await.unwrap();
        }
        drop(tx);
        let m = handle.await.unwrap();
        assert_eq!(m.iterations, 1000);
    }
}
