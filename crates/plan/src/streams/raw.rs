//! The raw stream steps: `ws = { ... }` (a WebSocket session) and `sse = { ... }` (a server-sent
//! events subscription), and the ordered events both expect.
//!
//! Like `raw.rs`, nothing here is validated beyond TOML types, and the `///` comment on each
//! field is the plan reference.

use toml::Spanned;

use crate::raw::Str;
use crate::raw_forms::OrderedMap;
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, Table};
use crate::schema::{nested, raw_table};

raw_table! {
    /// `ws = { ... }` in a step: open a WebSocket, send messages, expect events in order, close.
    /// The step fails with one class of the stream taxonomy (handshake-refused, closed-early,
    /// timeout-waiting-for, out-of-order, missing, duplicate, mismatch, unexpected-event,
    /// protocol-error, hung, reset). Its latency is the time from the step's start to its final
    /// expected event.
    pub struct RawWs as "step ws" {
        /// `GET target:/path`: the target's `http://` base becomes `ws://` (`https` becomes
        /// `wss`). The path (with any query string, e.g. `?token={{ token }}`) is a template.
        request: Option<Str> = "request line", Required;
        /// Handshake headers (templates), added to the target's, e.g.
        /// `{ Authorization = "Bearer {{ token }}" }`.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// Subprotocols offered in `Sec-WebSocket-Protocol`; the server must pick one of them.
        protocols: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// Messages sent right after the handshake, in order: `{ json = ... }` (every string
        /// inside is a template) or `{ text = "..." }` (a template).
        send: Option<Vec<Spanned<RawWsSend>>> = "list of messages", DefaultsTo("[]"), nested(ListOfTables, &RawWsSend::SCHEMA);
        /// JSONPath of a message's type, which `events[].type` matches.
        type_path: Option<Str> = "JSONPath", DefaultsTo("\"$.type\"");
        /// The events that must arrive, in this order (see Stream events below).
        events: Option<Vec<Spanned<RawStreamEvent>>> = "list of events", Required, nested(ListOfTables, &RawStreamEvent::SCHEMA);
        /// What to do with an event that is not the next expected one, between expected events
        /// or after the last one (see `linger`): `"allow"` skips it; `"forbid"` fails the step:
        /// `duplicate` for an expected event that arrives again, `mismatch` for the awaited
        /// type with other JSON (naming the JSONPath, the expected and the actual value), else
        /// `unexpected-event`. Either way, an expected event that arrives early passes over the
        /// ones before it: each is `missing` if it never comes, `out-of-order` if it comes
        /// after all.
        unexpected: Option<Str> = "\"allow\" or \"forbid\"", DefaultsTo("\"allow\"");
        /// After the last expected event, how long to keep listening before the client closes.
        /// Every message until the server answers the close is still judged (see `unexpected`).
        /// Default: close at once, and judge what comes until the server's close reply. A close
        /// from the server ends it early; `deadline` and `idle` bound it, and reaching either
        /// while lingering is no failure.
        linger: Option<Str> = "duration", Optional;
        /// The whole session (connect to the last expected event) must end within this.
        deadline: Option<Str> = "duration", DefaultsTo("\"30s\"");
        /// The longest silence allowed: no message, no ping. Past it the step is `hung`.
        idle: Option<Str> = "duration", DefaultsTo("\"10s\"");
        /// Largest message accepted, in bytes; a larger one is a protocol-error.
        max_message: Option<Spanned<i64>> = "integer > 0", DefaultsTo("1048576");
        /// How the client closes once every event arrived. The server's close code and reason
        /// are recorded next to it.
        close: Option<Spanned<RawWsClose>> = "table", DefaultsTo("{ code = 1000 }"), nested(Table, &RawWsClose::SCHEMA);
    }
}

raw_table! {
    /// One message of `ws.send`: exactly one of `json` or `text`.
    pub struct RawWsSend as "ws send" {
        /// A JSON message, written as any TOML value; every string inside is a template.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// A text message (a template), sent as is.
        text: Option<Str> = "template", Optional;
    }
}

raw_table! {
    /// `close = { ... }` in `ws`.
    pub struct RawWsClose as "ws close" {
        /// The close code the client sends (1000 to 4999).
        code: Option<Spanned<i64>> = "integer", DefaultsTo("1000");
        /// The close reason the client sends.
        reason: Option<Str> = "string", DefaultsTo("\"\"");
    }
}

raw_table! {
    /// `sse = { ... }` in a step: open a server-sent events stream, expect events in order,
    /// reconnect with `Last-Event-ID` when it drops, and record every event id for the stream
    /// check. Heartbeat comments are not events, but they count as signs of life. Its latency
    /// is the time from the step's start to its final event.
    pub struct RawSse as "step sse" {
        /// `METHOD target:/path`, usually `GET`; the path is a template.
        request: Option<Str> = "request line", Required;
        /// Request headers (templates), added to the target's.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// A JSON body (for streams opened with `POST`); every string inside is a template.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// The events that must arrive, in this order (see Stream events below); `type`
        /// matches the `event:` field. May be empty when `terminal` says where the stream ends.
        events: Option<Vec<Spanned<RawStreamEvent>>> = "list of events", DefaultsTo("[]"), nested(ListOfTables, &RawStreamEvent::SCHEMA);
        /// Event types that end the stream, each with the state of the job it announces:
        /// `{ run_completed = "completed", run_failed = "failed" }`. The stream check compares
        /// that state with the job's final state in the ledger.
        terminal: Option<OrderedMap<Str>> = "table of event = state", DefaultsTo("{}");
        /// The id of the job the stream follows (a template, e.g. `"{{ run_id }}"`); it links
        /// the stream to the ledger. Default: the request path.
        job: Option<Str> = "template", Optional;
        /// What to do with an event that is not the next expected one, between expected events
        /// or after the last one (see `linger`): `"allow"` skips it; `"forbid"` fails the step
        /// (`duplicate`, `mismatch` or `unexpected-event`, as for `ws`; a terminal event that
        /// arrives again is a `duplicate`). An expected event that arrives early passes over
        /// the ones before it: `missing`, or `out-of-order` if it comes after all; a terminal
        /// event while one is awaited makes it `missing`.
        unexpected: Option<Str> = "\"allow\" or \"forbid\"", DefaultsTo("\"allow\"");
        /// After the final event (the terminal event, or the last expected event when there is
        /// no `terminal`), how long to keep reading; every event in that time is judged (see
        /// `unexpected`). Default: with `unexpected = "forbid"`, or while an expected event was
        /// passed over, until the server ends the stream; otherwise not at all. `deadline` and
        /// `idle` bound it, and reaching either while lingering is no failure.
        linger: Option<Str> = "duration", Optional;
        /// The whole stream, reconnects included, must end within this.
        deadline: Option<Str> = "duration", DefaultsTo("\"60s\"");
        /// The longest silence allowed: no event, no comment. Past it the step is `hung`.
        idle: Option<Str> = "duration", DefaultsTo("\"10s\"");
        /// Largest event (or line) accepted, in bytes; a larger one is a protocol-error.
        max_event: Option<Spanned<i64>> = "integer > 0", DefaultsTo("1048576");
        /// How a dropped stream is resumed with `Last-Event-ID`.
        reconnect: Option<Spanned<RawReconnect>> = "table", DefaultsTo("{ attempts = 5 }"), nested(Table, &RawReconnect::SCHEMA);
        /// Concurrent readers of the same stream in this step, each one consumer for the
        /// stream check. A virtual user may hold many streams.
        readers: Option<Spanned<i64>> = "integer > 0", DefaultsTo("1");
        /// Drop the connection once, after this many events, and resume it with
        /// `Last-Event-ID`: proves resume without a fault.
        resume_after: Option<Spanned<i64>> = "integer > 0", Optional;
        /// Run the stream check on this step's streams: ordered, no duplicates, no gaps across
        /// reconnects, resumes right after `Last-Event-ID`, and a terminal event that agrees
        /// with the ledger. A violation fails the test.
        check: Option<bool> = "boolean", DefaultsTo("true");
    }
}

raw_table! {
    /// `reconnect = { ... }` in `sse`.
    pub struct RawReconnect as "sse reconnect" {
        /// Reconnections allowed after the first connection (0: none).
        attempts: Option<Spanned<i64>> = "integer >= 0", DefaultsTo("5");
        /// The first pause before reconnecting; it doubles each time. A `retry:` field from
        /// the server replaces it.
        backoff: Option<Str> = "duration", DefaultsTo("\"250ms\"");
        /// The longest pause before reconnecting.
        max_backoff: Option<Str> = "duration", DefaultsTo("\"5s\"");
    }
}

raw_table! {
    /// One expected event of `ws.events` or `sse.events`: `type`, `json`, or both.
    pub struct RawStreamEvent as "stream event" {
        /// The event's type: a WebSocket message's `type_path` value, or an SSE `event:` field.
        r#type: Option<Str> = "string", Optional;
        /// JSONPath assertions on the event's JSON data: `{ "$.path" = value }`; the first
        /// match must equal the value. Strings in values are templates.
        json: Option<OrderedMap<Spanned<toml::Value>>> = "table of JSONPath = value", DefaultsTo("{}");
        /// How long to wait for this event, counted from the previous expected event (or from
        /// the start of the step).
        timeout: Option<Str> = "duration", DefaultsTo("\"10s\"");
    }
}
