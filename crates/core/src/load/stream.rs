//! Stream steps in a virtual user: a WebSocket session ([`super::ws`]) or SSE readers
//! ([`super::sse`]), prepared once per test and run per iteration.
//!
//! Each stream yields one request sample (its latency is the time to its final expected event;
//! a failure carries its taxonomy class, so failures cluster by class and detail), stream
//! samples for the time to the first event, between events and to the final event, and, for
//! SSE, one record for the stream checker.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use minijinja::Value;
use serde_json_path::JsonPath;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::prepared::{
    HeaderSpec, HeaderValueSpec, PreparedStep, StepAction, TargetSpec, header_spec, join,
    wire_method,
};
use super::scope::JsonTemplate;
use super::stream_expect::{Matcher, StreamFailure};
use super::vu::{Runtime, StepEnd, VirtualUser};
use crate::metrics::aggregator::{Event, Failure, RequestSample};
use crate::metrics::streams::{StreamEnd, StreamSample};
use shakedown_plan::model::{
    Reconnect, StepKind, StreamExpect, StreamRequest, Unexpected, WsMessage,
};
use shakedown_plan::template::Template;

/// Gaps between events are sent to the aggregator in batches of this many: a small batch, since
/// every open stream holds one (2,000 streams hold 2,000 batches).
const GAP_BATCH: usize = 16;

/// An expected event, prepared: its expected values parsed as templates.
#[derive(Debug, Clone)]
pub struct MatcherSpec {
    label: String,
    kind: Option<String>,
    json: Vec<(String, JsonPath, JsonTemplate)>,
    timeout: Duration,
}

/// What both kinds of stream step share, prepared.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Index of the target in the prepared test's targets.
    pub target: usize,
    /// Path template.
    pub path: Template,
    /// The step's own headers.
    pub headers: Vec<HeaderSpec>,
    /// Expected events.
    pub matchers: Vec<MatcherSpec>,
    /// Whether other events may come in between, or after the last one.
    pub unexpected: Unexpected,
    /// How long to go on listening after the final event (None: the protocol's default).
    pub linger: Option<Duration>,
    /// Bound on the whole step.
    pub deadline: Duration,
    /// Idle limit.
    pub idle: Duration,
    /// Largest message or event, in bytes.
    pub max_event: usize,
    /// The protocol's own settings.
    pub protocol: ProtocolSpec,
}

/// The protocol of a stream step.
#[derive(Debug, Clone)]
pub enum ProtocolSpec {
    /// A WebSocket session.
    Ws(WsSpec),
    /// SSE readers.
    Sse(SseSpec),
}

/// A WebSocket step's own settings.
#[derive(Debug, Clone)]
pub struct WsSpec {
    /// Offered subprotocols.
    pub protocols: Vec<String>,
    /// Messages to send.
    pub send: Vec<MessageSpec>,
    /// JSONPath of a message's type.
    pub type_path: JsonPath,
    /// Close code the client sends.
    pub close_code: u16,
    /// Close reason the client sends.
    pub close_reason: String,
}

/// A message to send, prepared.
#[derive(Debug, Clone)]
pub enum MessageSpec {
    /// JSON with templates.
    Json(JsonTemplate),
    /// A text template.
    Text(Template),
}

/// An SSE step's own settings.
#[derive(Debug, Clone)]
pub struct SseSpec {
    /// The method.
    pub method: reqwest::Method,
    /// A JSON body.
    pub json: Option<JsonTemplate>,
    /// Terminal event types and the job state each announces.
    pub terminal: Vec<(String, String)>,
    /// The job template.
    pub job: Option<Template>,
    /// Reconnect policy.
    pub reconnect: Reconnect,
    /// Concurrent readers.
    pub readers: u32,
    /// Drop once after this many events.
    pub resume_after: Option<u64>,
    /// Whether the stream checker judges these streams.
    pub check: bool,
    /// One client (without a whole-request timeout) shared by every reader of the step.
    pub client: OnceLock<reqwest::Client>,
}

/// Prepare a `ws` or `sse` step.
pub fn prepare(
    kind: &StepKind,
    targets: &[TargetSpec],
    target_index: &dyn Fn(&str) -> Option<usize>,
) -> StepAction {
    let (method, result) = match kind {
        StepKind::Ws(ws) => (
            "WS",
            common(&ws.request, &ws.expect, targets, target_index).and_then(|c| {
                let send = ws
                    .send
                    .iter()
                    .map(|m| match m {
                        WsMessage::Json(doc) => JsonTemplate::parse(doc)
                            .map(MessageSpec::Json)
                            .map_err(|e| format!("ws.send template: {e}")),
                        WsMessage::Text(t) => Ok(MessageSpec::Text(t.clone())),
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(c(ProtocolSpec::Ws(WsSpec {
                    protocols: ws.protocols.clone(),
                    send,
                    type_path: ws.type_path.clone(),
                    close_code: ws.close_code,
                    close_reason: ws.close_reason.clone(),
                })))
            }),
        ),
        StepKind::Sse(sse) => (
            "SSE",
            common(&sse.request, &sse.expect, targets, target_index).and_then(|c| {
                let json = sse
                    .json
                    .as_ref()
                    .map(JsonTemplate::parse)
                    .transpose()
                    .map_err(|e| format!("sse.json template: {e}"))?;
                Ok(c(ProtocolSpec::Sse(SseSpec {
                    method: wire_method(sse.request.method),
                    json,
                    terminal: sse.terminal.clone(),
                    job: sse.job.clone(),
                    reconnect: sse.reconnect,
                    readers: sse.readers,
                    resume_after: sse.resume_after,
                    check: sse.check,
                    client: OnceLock::new(),
                })))
            }),
        ),
        StepKind::Http(_) | StepKind::Think { .. } => {
            ("-", Err("internal error: not a stream step".to_string()))
        }
    };
    match result {
        Ok(spec) => StepAction::Stream(Box::new(spec)),
        Err(message) => StepAction::Broken { method, message },
    }
}

type Finish = Box<dyn FnOnce(ProtocolSpec) -> StreamSpec>;

fn common(
    request: &StreamRequest,
    expect: &StreamExpect,
    targets: &[TargetSpec],
    target_index: &dyn Fn(&str) -> Option<usize>,
) -> Result<Finish, String> {
    let target = target_index(&request.target)
        .ok_or_else(|| format!("unknown target `{}`", request.target))?;
    if let Some(invalid) = &targets[target].invalid {
        return Err(invalid.clone());
    }
    let headers = request
        .headers
        .iter()
        .map(header_spec)
        .collect::<Result<Vec<_>, _>>()?;
    let matchers = expect
        .events
        .iter()
        .map(|m| {
            let json = m
                .json
                .iter()
                .map(|a| {
                    let want = a.equals.clone().unwrap_or(serde_json::Value::Null);
                    JsonTemplate::parse(&want)
                        .map(|t| (a.source.clone(), a.path.clone(), t))
                        .map_err(|e| format!("expected value of {}: {e}", a.source))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(MatcherSpec {
                label: m.label.clone(),
                kind: m.kind.clone(),
                json,
                timeout: m.timeout,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let (path, unexpected, linger, deadline, idle, max_event) = (
        request.path.clone(),
        expect.unexpected,
        expect.linger,
        expect.deadline,
        expect.idle,
        expect.max_event,
    );
    Ok(Box::new(move |protocol| StreamSpec {
        target,
        path,
        headers,
        matchers,
        unexpected,
        linger,
        deadline,
        idle,
        max_event,
        protocol,
    }))
}

/// A stream step rendered for one run: URL, headers and expected values.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The absolute URL (http or https).
    pub url: String,
    /// The request path as rendered, without its query string (the default job id).
    pub path: String,
    /// Every header: the target's, then the step's.
    pub headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    /// Expected events.
    pub matchers: Vec<Matcher>,
}

/// Render the parts every stream step shares.
pub fn render(target: &TargetSpec, spec: &StreamSpec, ctx: &Value) -> Result<Rendered, String> {
    let path = spec
        .path
        .render(ctx)
        .map_err(|e| format!("template {:?}: {e}", spec.path.source()))?;
    let mut headers = Vec::new();
    for h in target.headers.iter().chain(&spec.headers) {
        let value = match &h.value {
            HeaderValueSpec::Literal(v) => v.clone(),
            HeaderValueSpec::Template(t) => {
                let text = t
                    .render(ctx)
                    .map_err(|e| format!("header {}: {e}", h.name))?;
                reqwest::header::HeaderValue::from_str(&text)
                    .map_err(|_| format!("header {} renders to an invalid value", h.name))?
            }
        };
        headers.push((h.name.clone(), value));
    }
    let matchers = spec
        .matchers
        .iter()
        .map(|m| {
            let json = m
                .json
                .iter()
                .map(|(source, path, t)| {
                    t.render(ctx)
                        .map(|v| (source.clone(), path.clone(), v))
                        .map_err(|e| format!("expected value of {source}: {e}"))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Matcher {
                label: m.label.clone(),
                kind: m.kind.clone(),
                json,
                timeout: m.timeout,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Rendered {
        url: join(&target.base_url, &path),
        path: path.split('?').next().unwrap_or_default().to_string(),
        headers,
        matchers,
    })
}

/// How one stream ended.
#[derive(Debug, Clone, Default)]
pub struct StreamOutcome {
    /// The handshake's status (101 for an upgraded WebSocket), if one arrived.
    pub status: Option<u16>,
    /// The failure, if any.
    pub failure: Option<StreamFailure>,
    /// The closing handshake, described.
    pub close: Option<String>,
    /// Reconnections.
    pub reconnects: u32,
    /// Events received.
    pub events: u64,
    /// Time to the final expected event.
    pub final_event: Option<Duration>,
    /// Whether a stop (cancellation, deadline, budget) ended it.
    pub stopped: bool,
}

/// Times one stream's events and sends them to the aggregator in small batches.
#[derive(Debug)]
pub struct Timings {
    start: Instant,
    slot: u32,
    tx: mpsc::Sender<Event>,
    last: Option<Instant>,
    first: Option<Duration>,
    gaps: Vec<Duration>,
}

impl Timings {
    /// Timings of a stream of step `slot` that started at `start`.
    pub fn new(start: Instant, slot: u32, tx: mpsc::Sender<Event>) -> Timings {
        Timings {
            start,
            slot,
            tx,
            last: None,
            first: None,
            gaps: Vec::with_capacity(GAP_BATCH),
        }
    }

    /// An event arrived at `now`.
    pub async fn event(&mut self, now: Instant) {
        match self.last {
            None => self.first = Some(now - self.start),
            Some(prev) => self.gaps.push(now - prev),
        }
        self.last = Some(now);
        if self.gaps.len() >= GAP_BATCH {
            self.flush(None, None).await;
        }
    }

    /// Send what is pending, with the final event's time and the stream's end if given.
    pub async fn flush(&mut self, final_event: Option<Duration>, end: Option<StreamEnd>) {
        let sample = StreamSample {
            step: self.slot,
            first_event: self.first.take(),
            between: std::mem::replace(&mut self.gaps, Vec::with_capacity(GAP_BATCH)),
            final_event,
            end,
        };
        if self.tx.send(Event::Stream(Box::new(sample))).await.is_err() {
            tracing::warn!("load: the aggregator is gone; a stream sample was lost");
        }
    }
}

/// Report a finished stream: its request sample and its end.
pub async fn report(
    tx: &mpsc::Sender<Event>,
    timings: &mut Timings,
    protocol: &'static str,
    method: &'static str,
    outcome: &StreamOutcome,
    elapsed: Duration,
) {
    let class = outcome.failure.as_ref().map(|f| f.class.name());
    timings
        .flush(
            outcome.final_event.filter(|_| outcome.failure.is_none()),
            Some(StreamEnd {
                protocol,
                events: outcome.events,
                reconnects: outcome.reconnects,
                class,
                close: outcome.close.clone(),
            }),
        )
        .await;
    let latency = match (&outcome.failure, outcome.final_event) {
        (None, Some(d)) => d,
        _ => elapsed,
    };
    let sample = RequestSample {
        step: timings.slot,
        latency: Some(latency),
        status: outcome.status,
        failure: outcome.failure.as_ref().map(|f| {
            Box::new(Failure {
                method,
                message: f.to_string(),
            })
        }),
    };
    if tx.send(Event::Request(sample)).await.is_err() {
        tracing::warn!("load: the aggregator is gone; a sample was lost");
    }
}

impl VirtualUser {
    /// Run a stream step.
    pub(super) async fn run_stream(&mut self, step: &PreparedStep, spec: &StreamSpec) -> StepEnd {
        let rt: Arc<Runtime> = self.rt.clone();
        let method = match spec.protocol {
            ProtocolSpec::Ws(_) => "WS",
            ProtocolSpec::Sse(_) => "SSE",
        };
        let ctx = self.scope.context(step.id, None);
        let Some(target) = rt.prepared.targets.get(spec.target) else {
            return self
                .unsent(step, method, format!("no target #{}", spec.target))
                .await;
        };
        let rendered = match render(target, spec, &ctx) {
            Ok(r) => r,
            Err(message) => return self.unsent(step, method, message).await,
        };
        let step_name = rt
            .prepared
            .step_names
            .get(step.slot as usize)
            .cloned()
            .unwrap_or_default();
        match &spec.protocol {
            ProtocolSpec::Ws(ws) => {
                if let Err(reason) = rt.budget.take() {
                    rt.stop.stop(reason);
                    return StepEnd::Stopped;
                }
                let start = Instant::now();
                let mut timings = Timings::new(start, step.slot, self.tx.clone());
                let outcome = tokio::select! {
                    biased;
                    _ = rt.stop.token().cancelled() => return StepEnd::Stopped,
                    o = super::ws::session(target, spec, ws, &rendered, &ctx, &mut timings) => o,
                };
                report(
                    &self.tx,
                    &mut timings,
                    "ws",
                    method,
                    &outcome,
                    start.elapsed(),
                )
                .await;
                if outcome.failure.is_some() {
                    StepEnd::Failed
                } else {
                    StepEnd::Passed
                }
            }
            ProtocolSpec::Sse(sse) => {
                let job = match &sse.job {
                    Some(t) => match t.render(&ctx) {
                        Ok(j) => j,
                        Err(e) => return self.unsent(step, method, format!("sse.job: {e}")).await,
                    },
                    None => rendered.path.clone(),
                };
                let body = match &sse.json {
                    None => None,
                    Some(t) => match t.render(&ctx).and_then(|v| {
                        serde_json::to_vec(&v).map_err(|e| {
                            minijinja::Error::new(
                                minijinja::ErrorKind::BadSerialization,
                                e.to_string(),
                            )
                        })
                    }) {
                        Ok(b) => Some(b),
                        Err(e) => return self.unsent(step, method, format!("sse.json: {e}")).await,
                    },
                };
                let consumer = format!("{}/it-{}", self.process, self.scope.iteration);
                let readers = (0..sse.readers).map(|reader| {
                    let reader_ctx = super::sse::Reader {
                        rt: rt.clone(),
                        target,
                        spec,
                        sse,
                        rendered: &rendered,
                        body: body.as_deref(),
                        job: &job,
                        consumer: format!("{consumer}/r-{reader}"),
                        step_name: &step_name,
                        tx: self.tx.clone(),
                        slot: step.slot,
                    };
                    reader_ctx.follow()
                });
                let ends = futures::future::join_all(readers).await;
                if ends.contains(&StepEnd::Stopped) {
                    StepEnd::Stopped
                } else if ends.contains(&StepEnd::Failed) {
                    StepEnd::Failed
                } else {
                    StepEnd::Passed
                }
            }
        }
    }
}
