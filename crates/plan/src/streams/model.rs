//! The validated stream steps: a WebSocket session and a server-sent events stream, each with
//! the ordered events it expects. Compiled by `compile_stream.rs`, run by `load/ws.rs` and
//! `load/sse.rs`.

use std::time::Duration;

use serde_json_path::JsonPath;

use crate::model::Method;
use crate::scenarios::model::JsonAssertion;
use crate::targets::model::HeaderTemplate;
use crate::template::Template;

/// Where a stream connects: a target, a path template and extra headers.
#[derive(Debug, Clone)]
pub struct StreamRequest {
    /// The method (always GET for a WebSocket).
    pub method: Method,
    /// The target's name.
    pub target: String,
    /// Path (templated), with any query string.
    pub path: Template,
    /// Headers (templated), added to the target's.
    pub headers: Vec<HeaderTemplate>,
}

/// What to do with an event that is not the next expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unexpected {
    /// Skip it.
    Allow,
    /// Fail the step (duplicate, mismatch or unexpected-event).
    Forbid,
}

/// One expected event.
#[derive(Debug, Clone)]
pub struct EventMatcher {
    /// How messages name it: its type, or its JSONPath assertions.
    pub label: String,
    /// The type it must have (a WebSocket message's type, an SSE `event:` field).
    pub kind: Option<String>,
    /// Assertions on its JSON data (expected values may be templates).
    pub json: Vec<JsonAssertion>,
    /// The longest wait for it, from the previous expected event (or the step's start).
    pub timeout: Duration,
}

/// The expectations a stream step shares, whatever its protocol.
#[derive(Debug, Clone)]
pub struct StreamExpect {
    /// The events, in order.
    pub events: Vec<EventMatcher>,
    /// Whether other events may come in between, or after the last one.
    pub unexpected: Unexpected,
    /// How long to go on listening after the final event; None: the protocol's default (a
    /// WebSocket closes at once, an SSE stream is read to its end when anything can still
    /// fail).
    pub linger: Option<Duration>,
    /// Bound on the whole step.
    pub deadline: Duration,
    /// The longest silence allowed before the stream counts as hung.
    pub idle: Duration,
    /// Largest message or event accepted, in bytes.
    pub max_event: usize,
}

/// A message a WebSocket step sends.
#[derive(Debug, Clone)]
pub enum WsMessage {
    /// A JSON document whose strings are templates.
    Json(serde_json::Value),
    /// A text template.
    Text(Template),
}

/// A WebSocket session step.
#[derive(Debug, Clone)]
pub struct WsStep {
    /// Where it connects.
    pub request: StreamRequest,
    /// Offered subprotocols.
    pub protocols: Vec<String>,
    /// Messages sent after the handshake.
    pub send: Vec<WsMessage>,
    /// JSONPath of a message's type.
    pub type_path: JsonPath,
    /// What must arrive.
    pub expect: StreamExpect,
    /// The close code the client sends.
    pub close_code: u16,
    /// The close reason the client sends.
    pub close_reason: String,
}

/// How a dropped SSE stream is resumed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reconnect {
    /// Reconnections allowed after the first connection.
    pub attempts: u32,
    /// The first pause; it doubles after each failed attempt.
    pub backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

/// A server-sent events step.
#[derive(Debug, Clone)]
pub struct SseStep {
    /// Where it connects.
    pub request: StreamRequest,
    /// A JSON body (strings are templates), for streams opened with POST.
    pub json: Option<serde_json::Value>,
    /// What must arrive.
    pub expect: StreamExpect,
    /// Event types that end the stream, with the job state each announces.
    pub terminal: Vec<(String, String)>,
    /// The job the stream follows (templated); None: the request path.
    pub job: Option<Template>,
    /// How drops are resumed.
    pub reconnect: Reconnect,
    /// Concurrent readers of the stream.
    pub readers: u32,
    /// Drop once after this many events and resume.
    pub resume_after: Option<u64>,
    /// Whether the stream check judges these streams.
    pub check: bool,
}
