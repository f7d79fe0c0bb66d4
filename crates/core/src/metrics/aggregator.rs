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
use tokio::time::Instant;

use super::Measurements;
use super::signature::{signature, status_class};
use super::windows::Outcome;
use shakedown_plan::redact::Redactor;

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

/// A request sample with its timing: when it was meant to start and how long it waited.
///
/// `sample.latency` is the response time, from `intended` to the end of the body. In the closed
/// model `intended` is the actual send time and `wait` is None; in the open model `intended` is
/// the scheduled start, `wait` the time from it to the actual send, and the service time is
/// `latency - wait`.
#[derive(Debug)]
pub struct TimedSample {
    /// The request's result.
    pub sample: RequestSample,
    /// When the request was meant to start (its window is keyed by this).
    pub intended: Instant,
    /// Open model: from the intended start to the actual send.
    pub wait: Option<Duration>,
    /// Bytes of the response body received.
    pub body_bytes: u64,
}

/// What virtual users and samplers report.
#[derive(Debug)]
pub enum Event {
    /// A request completed (or a step failed before sending). Its window is estimated from the
    /// time it is received minus its latency; steps that know their send time use
    /// [`Event::Timed`].
    Request(RequestSample),
    /// A request completed, with its intended start (and, in the open model, its wait time).
    Timed(TimedSample),
    /// Open model: a scheduled send could not start on time (no free slot, or too late).
    Dropped {
        /// Its intended start.
        intended: Instant,
    },
    /// A request in flight was abandoned when the test stopped (cancellation, the deadline, or
    /// the end of its graceful stop): it has no answer, so it is neither a request nor a
    /// failure, only counted.
    Cancelled {
        /// Index of the step in [`Measurements::steps`].
        step: u32,
        /// Open model: it was its iteration's scheduled send (so the schedule's count of sends
        /// holds it).
        scheduled: bool,
    },
    /// An iteration ran to its end.
    Iteration {
        /// Whether it ended at a failed step.
        failed: bool,
    },
    /// Several events of one virtual user, sent at once: a channel send per request cost more
    /// than recording it. Only events that carry their own time ([`Event::Timed`],
    /// [`Event::Iteration`], [`Event::Dropped`]) are batched.
    Batch(Vec<Event>),
    /// A stream step's timings, and at its end how it ended.
    Stream(Box<super::streams::StreamSample>),
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
    /// Open model: sends dropped so far.
    pub dropped: AtomicU64,
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
    /// Second 0 of the windows: the start of the run.
    origin: Instant,
    /// By step slot: whether it is a stream, not marked in flight (a stream is open by design).
    streams: Vec<bool>,
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
            origin: Instant::now(),
            streams: Vec::new(),
        }
    }

    /// Mark the step slots that are streams (WebSocket, SSE): a stream open for seconds is
    /// working, not waiting, so its seconds are not counted as requests in flight.
    pub fn with_streams(mut self, slots: Vec<u32>) -> Aggregator {
        for slot in slots {
            let slot = slot as usize;
            if slot >= self.streams.len() {
                self.streams.resize(slot + 1, false);
            }
            self.streams[slot] = true;
        }
        self
    }

    /// Key windows by seconds since `origin` (the start of the run) rather than since the
    /// aggregator was made.
    pub fn with_origin(mut self, origin: Instant) -> Aggregator {
        self.origin = origin;
        self
    }

    /// Fold one event in.
    pub fn record(&mut self, event: Event) {
        self.record_at(event, Instant::now());
    }

    /// Fold one event in, received at `now`.
    fn record_at(&mut self, event: Event, now: Instant) {
        match event {
            Event::Request(sample) => {
                let intended = sample
                    .latency
                    .and_then(|l| now.checked_sub(l))
                    .unwrap_or(now);
                self.record_request(sample, intended, None);
            }
            Event::Timed(t) => {
                let m = &mut self.measurements;
                if let Some(step) = m.steps.get_mut(t.sample.step as usize) {
                    step.bytes_received += t.body_bytes;
                    m.overall.bytes_received += t.body_bytes;
                }
                self.record_request(t.sample, t.intended, t.wait);
            }
            Event::Dropped { intended } => {
                self.measurements.dropped += 1;
                let second = self.second(intended);
                self.measurements.windows.record_dropped(second);
                self.live.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Event::Cancelled { step, scheduled } => {
                let m = &mut self.measurements;
                if let Some(step) = m.steps.get_mut(step as usize) {
                    step.cancelled += 1;
                    m.overall.cancelled += 1;
                    m.cancelled_sends += u64::from(scheduled);
                }
            }
            Event::Iteration { failed } => {
                self.measurements.iterations += 1;
                if failed {
                    self.measurements.failed_iterations += 1;
                }
                self.live.iterations.fetch_add(1, Ordering::Relaxed);
            }
            Event::Batch(events) => {
                for event in events {
                    self.record_at(event, now);
                }
            }
            Event::Stream(sample) => {
                let m = &mut self.measurements;
                if let Some(step) = m.steps.get(sample.step as usize) {
                    m.streams.record(&step.name, *sample);
                }
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
                            tracing::info!(gauge = %name, error = %e, "load: a gauge sample failed");
                        }
                        stats.record_failure(&e);
                    }
                }
            }
        }
    }

    /// Whole seconds from the origin to `at` (0 for anything before it).
    fn second(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_secs()
    }

    fn record_request(&mut self, sample: RequestSample, intended: Instant, wait: Option<Duration>) {
        let second = self.second(intended);
        let end_second = sample
            .latency
            .filter(|_| {
                !self
                    .streams
                    .get(sample.step as usize)
                    .copied()
                    .unwrap_or(false)
            })
            .map(|l| self.second(intended + l));
        let m = &mut self.measurements;
        let Some(step) = m.steps.get_mut(sample.step as usize) else {
            return;
        };
        let sent = sample.latency.is_some();
        let class = status_class(sample.status);
        match sample.latency {
            Some(latency) => {
                let outcome = match (&sample.failure, sample.status) {
                    (None, _) => Outcome::Ok,
                    (Some(_), None) => Outcome::Error,
                    (Some(_), Some(_)) => Outcome::Failed,
                };
                m.windows.record(second, latency, outcome);
                m.windows
                    .record_in_flight(second, end_second.unwrap_or(second));
                if let Some(wait) = wait {
                    let service = latency.saturating_sub(wait);
                    m.wait.record(wait);
                    m.service.record(service);
                    if let Some(w) = m.windows.at(second) {
                        w.record_timing(wait, service);
                    }
                }
            }
            None => m.windows.record_unsent_failure(second),
        }
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
            m.failures.add_at(sig, &message, Some(second));
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
                let now = Instant::now();
                for event in batch.drain(..) {
                    self.record_at(event, now);
                }
            }
            self.finish()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_plan::model::{SecretValue, Secrets};

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

    #[test]
    fn windows_are_keyed_by_intended_start_since_the_origin() {
        let origin = Instant::now();
        let mut a = aggregator().with_origin(origin);
        let timed = |at_ms: u64, latency_ms: u64, wait_ms: Option<u64>, status| {
            Event::Timed(TimedSample {
                sample: RequestSample {
                    step: 0,
                    latency: Some(Duration::from_millis(latency_ms)),
                    status: Some(status),
                    failure: (status >= 500).then(|| {
                        Box::new(Failure {
                            method: "GET",
                            message: "boom".into(),
                        })
                    }),
                },
                intended: origin + Duration::from_millis(at_ms),
                wait: wait_ms.map(Duration::from_millis),
                body_bytes: 0,
            })
        };
        a.record(timed(100, 10, None, 200));
        a.record(timed(900, 20, None, 503));
        // Scheduled in second 2, sent 300 ms late, answered 5 ms after sending.
        a.record(timed(2_500, 305, Some(300), 200));
        a.record(Event::Dropped {
            intended: origin + Duration::from_millis(2_600),
        });
        let m = a.finish();
        assert_eq!(m.dropped, 1);
        let t = m.summary().timeline;
        assert_eq!(
            t.iter()
                .map(|w| (w.second, w.requests, w.failures))
                .collect::<Vec<_>>(),
            [(0, 2, 1), (2, 1, 0)]
        );
        assert!(
            (t[1].p99 - 305.0).abs() < 4.0,
            "response time from intended start"
        );
        assert_eq!(m.windows.get(2).map(|w| w.dropped), Some(1));
        let service = m.service.max_ms().unwrap();
        assert!((service - 5.0).abs() < 0.1, "service {service}");
        let wait = m.wait.max_ms().unwrap();
        assert!((wait - 300.0).abs() < 0.5, "wait {wait}");
        assert_eq!(
            m.availability(Duration::from_millis(100)),
            [(0, Some(0.5)), (1, None), (2, Some(0.0))]
        );
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

    #[test]
    fn a_hung_request_marks_the_seconds_it_was_in_flight_and_an_open_stream_does_not() {
        let origin = Instant::now();
        // Slot 0 (`login`) is a plain request; slot 1 (`create`) stands for a stream step.
        let mut a = aggregator().with_origin(origin).with_streams(vec![1]);
        let sample = |step, latency_ms| {
            Event::Timed(TimedSample {
                sample: RequestSample {
                    step,
                    latency: Some(Duration::from_millis(latency_ms)),
                    status: Some(200),
                    failure: None,
                },
                intended: origin + Duration::from_millis(500),
                wait: None,
                body_bytes: 0,
            })
        };
        a.record(sample(0, 2_800));
        a.record(sample(1, 6_000));
        let m = a.finish();
        let in_flight: Vec<(u64, u64)> = m.windows.iter().map(|(s, w)| (s, w.in_flight)).collect();
        assert_eq!(in_flight, [(0, 0), (1, 1), (2, 1), (3, 1)]);
    }
}
