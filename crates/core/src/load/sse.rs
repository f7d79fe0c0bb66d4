//! One SSE reader: open the stream, expect events in order, and when it drops, resume with
//! `Last-Event-ID` after a backoff (the server's `retry:` replaces it), within a bounded number
//! of attempts and the step's deadline. Every event id goes into a [`StreamTrace`] that the
//! stream checker judges after settle.
//!
//! Connect errors, 5xx statuses, an end of stream before the terminal event and a broken body
//! are retried; anything else (a 4xx, a wrong content type, garbage, silence past the idle
//! limit, a missed deadline, a forbidden event) ends the stream at once with its class.
//!
//! After the final event (the terminal one, or the last expected one) the stream is read on
//! and judged: for `linger` if the step sets it, otherwise to its end when anything can still
//! fail (`unexpected = "forbid"`, or an expected event passed over), so that a terminal event
//! sent twice is a `duplicate`.
//!
//! The bytes travel over [`super::sse_wire`]: a lean HTTP/1.1 client for plain http targets (a
//! few KB per open stream), reqwest for https.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::http::excerpt;
use super::prepared::TargetSpec;
use super::sse_parse::{SseError, SseEvent, SseItem, SseParser};
use super::sse_wire::{self, BodyError, OpenError, SseRequest, SseResponse};
use super::stream::{Rendered, SseSpec, StreamOutcome, StreamSpec, Timings, report};
use super::stream_expect::{Sequence, StreamClass, StreamClock, StreamFailure};
use super::vu::{Runtime, StepEnd};
use crate::ledger::streams::StreamTrace;
use crate::metrics::aggregator::Event;
use shakedown_plan::model::Unexpected;

/// One reader of one SSE step.
pub struct Reader<'a> {
    /// The test's runtime.
    pub rt: Arc<Runtime>,
    /// The target.
    pub target: &'a TargetSpec,
    /// The step.
    pub spec: &'a StreamSpec,
    /// Its SSE settings.
    pub sse: &'a SseSpec,
    /// URL, headers and expected events, rendered.
    pub rendered: &'a Rendered,
    /// The JSON body, rendered.
    pub body: Option<&'a [u8]>,
    /// The job the stream follows.
    pub job: &'a str,
    /// Who reads: `L3/vu-2/it-0/r-0`.
    pub consumer: String,
    /// The step's name.
    pub step_name: &'a str,
    /// The aggregator.
    pub tx: mpsc::Sender<Event>,
    /// The step's metrics slot.
    pub slot: u32,
}

/// How one connection ended.
enum ConnectionEnd {
    /// Every expected event, and the terminal event if any, arrived.
    Complete,
    /// A failure that a reconnect may cure.
    Retry(StreamFailure),
    /// The planned drop of `resume_after`.
    Resume,
    /// A failure that ends the stream.
    Fail(StreamFailure),
    /// The test stopped.
    Stopped,
}

/// The state of a stream across its connections.
struct Follow {
    /// The stream's URL, parsed once for every connection.
    url: Result<reqwest::Url, String>,
    start: Instant,
    clock: StreamClock,
    seq: Sequence,
    trace: StreamTrace,
    last_id: Option<String>,
    server_retry: Option<Duration>,
    outcome: StreamOutcome,
    resumed: bool,
    /// Once the final event arrived: how long the stream is still read and judged.
    linger_until: Option<Instant>,
    /// The terminal event that ended the stream, if any.
    terminal: Option<String>,
}

impl Reader<'_> {
    /// Follow the stream to its end; report it; record it for the stream check.
    pub(super) async fn follow(self) -> StepEnd {
        let start = Instant::now();
        let mut f = Follow {
            url: reqwest::Url::parse(&self.rendered.url)
                .map_err(|e| format!("invalid URL {:?}: {e}", self.rendered.url)),
            start,
            clock: StreamClock::new(start, self.spec.deadline, self.spec.idle),
            seq: Sequence::new(self.rendered.matchers.clone(), self.spec.unexpected, start),
            trace: StreamTrace::new(
                &self.rt.prepared.id,
                self.step_name,
                self.job,
                self.consumer.clone(),
            ),
            last_id: None,
            server_retry: None,
            outcome: StreamOutcome::default(),
            resumed: false,
            linger_until: None,
            terminal: None,
        };
        let mut timings = Timings::new(start, self.slot, self.tx.clone());
        let mut backoff = self.sse.reconnect.backoff;
        let mut attempts_left = self.sse.reconnect.attempts;
        loop {
            if let Err(reason) = self.rt.budget.take() {
                self.rt.stop.stop(reason);
                f.outcome.stopped = true;
                break;
            }
            f.trace.connect(f.last_id.as_deref());
            let end = tokio::select! {
                biased;
                _ = self.rt.stop.token().cancelled() => ConnectionEnd::Stopped,
                end = self.connection(&mut f, &mut timings) => end,
            };
            match end {
                ConnectionEnd::Complete => {
                    f.trace.disconnect("complete");
                    f.outcome.failure = f.seq.verdict(None);
                    break;
                }
                ConnectionEnd::Stopped => {
                    f.trace.disconnect("stopped");
                    f.outcome.stopped = true;
                    break;
                }
                ConnectionEnd::Fail(failure) => {
                    f.trace.disconnect(failure.class.name());
                    f.outcome.failure = f.seq.verdict(Some(failure));
                    break;
                }
                ConnectionEnd::Resume => {
                    f.trace.disconnect("dropped by resume_after");
                    f.outcome.reconnects += 1;
                }
                ConnectionEnd::Retry(failure) => {
                    f.trace.disconnect(failure.class.name());
                    let wait = f.server_retry.unwrap_or(backoff);
                    let out_of_time = Instant::now() + wait >= f.clock.deadline;
                    if attempts_left == 0 || out_of_time {
                        let why = if attempts_left == 0 {
                            format!("after {} reconnects", self.sse.reconnect.attempts)
                        } else {
                            "with no time left before the deadline".to_string()
                        };
                        let mut failure = failure;
                        failure.detail = format!("{} ({why})", failure.detail);
                        f.outcome.failure = f.seq.verdict(Some(failure));
                        break;
                    }
                    attempts_left -= 1;
                    f.outcome.reconnects += 1;
                    backoff = (backoff * 2).min(self.sse.reconnect.max_backoff);
                    tokio::select! {
                        biased;
                        _ = self.rt.stop.token().cancelled() => {
                            f.outcome.stopped = true;
                            break;
                        }
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        if f.outcome.stopped {
            return StepEnd::Stopped;
        }
        let elapsed = f.start.elapsed();
        report(&self.tx, &mut timings, "sse", "SSE", &f.outcome, elapsed).await;
        if self.sse.check {
            let failure = f
                .outcome
                .failure
                .as_ref()
                .map(|e| (e.class.name(), e.to_string()));
            let record = f.trace.finish(
                failure.as_ref().map(|(c, m)| (*c, m.as_str())),
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            );
            self.rt.track.ledger.streams().record(&record);
        }
        if f.outcome.failure.is_some() {
            StepEnd::Failed
        } else {
            StepEnd::Passed
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        if let Some(c) = self.sse.client.get() {
            return Ok(c);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(self.target.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(self.sse.client.get_or_init(|| client))
    }

    /// Send the request and wait for the response head.
    async fn open(&self, f: &Follow) -> Result<SseResponse, ConnectionEnd> {
        let protocol =
            |e: String| ConnectionEnd::Fail(StreamFailure::new(StreamClass::ProtocolError, e));
        let url = f.url.as_ref().map_err(|e| protocol(e.clone()))?;
        let last_event_id = f
            .last_id
            .as_deref()
            .map(|id| {
                HeaderValue::from_str(id)
                    .map_err(|_| format!("event id {id:?} cannot be sent as Last-Event-ID"))
            })
            .transpose()
            .map_err(protocol)?;
        let request = SseRequest {
            method: &self.sse.method,
            url,
            headers: &self.rendered.headers,
            last_event_id,
            body: self.body,
            connect_timeout: self.target.connect_timeout,
        };
        sse_wire::open(&request, || self.client())
            .await
            .map_err(|e| match e {
                OpenError::Connect(e) => {
                    ConnectionEnd::Retry(StreamFailure::new(StreamClass::HandshakeRefused, e))
                }
                OpenError::Broken(e) => {
                    ConnectionEnd::Retry(StreamFailure::new(StreamClass::Reset, e))
                }
                OpenError::Protocol(e) => protocol(e),
            })
    }

    /// One connection, from the request to its end.
    async fn connection(&self, f: &mut Follow, timings: &mut Timings) -> ConnectionEnd {
        let headers_wait = f
            .clock
            .idle
            .min(f.clock.deadline.saturating_duration_since(Instant::now()));
        // Boxed: connecting is a large future, and it is done with once the head is in.
        let opened = tokio::time::timeout(headers_wait, Box::pin(self.open(f))).await;
        let mut response = match opened {
            Err(_) => {
                return ConnectionEnd::Fail(StreamFailure::new(
                    StreamClass::Hung,
                    format!("no response headers within {}ms", headers_wait.as_millis()),
                ));
            }
            Ok(Err(end)) => return end,
            Ok(Ok(r)) => r,
        };
        let status = response.status;
        f.outcome.status = Some(status);
        f.clock.byte(Instant::now());
        if !(200..300).contains(&status) {
            let body = tokio::time::timeout(Duration::from_millis(500), response.chunk())
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
                .map(|b| excerpt(b, 120))
                .unwrap_or_default();
            let failure = StreamFailure::new(
                StreamClass::HandshakeRefused,
                format!("status {status}: {body}"),
            );
            return if status >= 500 {
                ConnectionEnd::Retry(failure)
            } else {
                ConnectionEnd::Fail(failure)
            };
        }
        if !response.content_type.starts_with("text/event-stream") {
            return ConnectionEnd::Fail(StreamFailure::new(
                StreamClass::ProtocolError,
                format!(
                    "content-type {:?} is not text/event-stream",
                    response.content_type
                ),
            ));
        }
        let mut parser = SseParser::new(self.spec.max_event);
        let mut items = Vec::new();
        let mut on_this_connection = 0u64;
        loop {
            // Once the final event is in, the stream is read until the linger ends or it falls
            // silent, and neither is a failure.
            let (wake_at, wake) = match f.linger_until {
                Some(until) => (until.min(f.clock.last_byte + f.clock.idle), None),
                None => {
                    let (at, wake) = f.clock.next_wake(&f.seq);
                    (at, Some(wake))
                }
            };
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk,
                () = tokio::time::sleep_until(wake_at) => {
                    return match wake {
                        Some(wake) => ConnectionEnd::Fail(f.clock.failure(wake, &f.seq)),
                        None => ConnectionEnd::Complete,
                    };
                }
            };
            let now = Instant::now();
            let bytes = match chunk {
                Ok(Some(bytes)) => bytes,
                Ok(None) | Err(BodyError::Broken(_)) if f.linger_until.is_some() => {
                    return ConnectionEnd::Complete;
                }
                Ok(None) => {
                    return ConnectionEnd::Retry(StreamFailure::new(
                        StreamClass::ClosedEarly,
                        format!(
                            "the server ended the stream after {} events, while waiting for {}",
                            f.outcome.events,
                            self.waiting(f)
                        ),
                    ));
                }
                Err(BodyError::Broken(e)) => {
                    return ConnectionEnd::Retry(StreamFailure::new(
                        StreamClass::Reset,
                        format!("the stream broke after {} events: {e}", f.outcome.events),
                    ));
                }
                Err(BodyError::Protocol(e)) => {
                    return ConnectionEnd::Fail(StreamFailure::new(
                        StreamClass::ProtocolError,
                        format!("{e} after {} events", f.outcome.events),
                    ));
                }
            };
            f.clock.byte(now);
            items.clear();
            if let Err(e) = parser.feed(bytes, &mut items) {
                let detail = match e {
                    SseError::TooLarge { .. } => format!("{e} after {} events", f.outcome.events),
                    SseError::Utf8 => format!("{e} after {} events", f.outcome.events),
                };
                return ConnectionEnd::Fail(StreamFailure::new(StreamClass::ProtocolError, detail));
            }
            for item in items.drain(..) {
                let event = match item {
                    SseItem::Comment => continue,
                    SseItem::Retry(d) => {
                        f.server_retry = Some(d.min(self.sse.reconnect.max_backoff));
                        continue;
                    }
                    SseItem::Event(event) => event,
                };
                f.outcome.events += 1;
                on_this_connection += 1;
                timings.event(now).await;
                f.trace.event(event.id.as_deref());
                if let Some(id) = &event.id {
                    f.last_id = Some(id.clone());
                }
                if let Some(end) = self.event(f, &event, on_this_connection, now) {
                    return end;
                }
            }
        }
    }

    /// Judge one event: the connection's end if it brings one.
    fn event(
        &self,
        f: &mut Follow,
        event: &SseEvent,
        on_this_connection: u64,
        now: Instant,
    ) -> Option<ConnectionEnd> {
        let doc = serde_json::from_str::<serde_json::Value>(&event.data).ok();
        let kind = Some(event.event.as_str());
        let terminal = self.sse.terminal.iter().find(|(k, _)| *k == event.event);
        if f.linger_until.is_some() {
            if let Some((again, _)) = terminal
                && f.terminal.as_ref() == Some(again)
                && self.spec.unexpected == Unexpected::Forbid
            {
                return Some(ConnectionEnd::Fail(
                    StreamFailure::new(
                        StreamClass::Duplicate,
                        format!("the terminal event {again} arrived a second time"),
                    )
                    .about(again),
                ));
            }
            return f
                .seq
                .offer(kind, doc.as_ref(), now)
                .err()
                .map(ConnectionEnd::Fail);
        }
        // A terminal event is expected by definition: it is judged as one of `events` only
        // when it is the next of them.
        let offered = match terminal {
            Some(_) if !f.seq.is_next(kind, doc.as_ref()) => Ok(false),
            _ => f.seq.offer(kind, doc.as_ref(), now),
        };
        if let Err(failure) = offered {
            return Some(ConnectionEnd::Fail(failure));
        }
        if let Some((kind, state)) = terminal {
            if let Some(failure) = f.seq.cut_short(&format!("the terminal event {kind}")) {
                return Some(ConnectionEnd::Fail(failure));
            }
            f.trace.terminal(kind, state);
            f.terminal = Some(kind.clone());
        } else if !(f.seq.done() && self.sse.terminal.is_empty()) {
            if !f.resumed && self.sse.resume_after == Some(on_this_connection) {
                f.resumed = true;
                return Some(ConnectionEnd::Resume);
            }
            return None;
        }
        // The final event.
        f.outcome.final_event = Some(now - f.start);
        let until = match self.spec.linger {
            Some(linger) => now + linger,
            None if f.seq.watches_the_end() => f.clock.deadline,
            None => return Some(ConnectionEnd::Complete),
        };
        if until.min(f.clock.deadline) <= now {
            return Some(ConnectionEnd::Complete);
        }
        f.linger_until = Some(until.min(f.clock.deadline));
        None
    }

    fn waiting(&self, f: &Follow) -> String {
        if !f.seq.done() {
            return f.seq.describe_next();
        }
        let terminal: Vec<&str> = self.sse.terminal.iter().map(|(k, _)| k.as_str()).collect();
        format!("a terminal event ({})", terminal.join(" or "))
    }
}
