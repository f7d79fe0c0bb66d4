//! The raw `[scenarios.NAME]` tables: a scenario, its steps, their expectations, polls and
//! `track`.
//!
//! Like every raw table, nothing here is validated beyond TOML types, and the `///` comment on
//! each field is the plan reference.

use toml::Spanned;

use crate::raw::Str;
use crate::raw_forms::{OrderedMap, StatusForm, ThinkForm};
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, Table};
use crate::schema::{nested, raw_table};
use crate::streams::raw::{RawSse, RawWs};

raw_table! {
    /// A named journey.
    pub struct RawScenario as "[scenarios.NAME]" {
        /// The steps, in order. Each is an HTTP step (`request = ...`), a think step
        /// (`think = ...`), a WebSocket session (`ws = { ... }`) or an SSE stream
        /// (`sse = { ... }`).
        steps: Option<Vec<Spanned<RawStep>>> = "list of steps", Required, nested(ListOfTables, &RawStep::SCHEMA);
    }
}

raw_table! {
    /// One step of a scenario: exactly one of `request` (an HTTP step), `think` (a pause),
    /// `ws` (a WebSocket session) or `sse` (a server-sent events stream).
    /// Templates in a step may read the builtins (`vu`, `iteration`, `vars.*`, `secrets.*`,
    /// `uuid()`), the captures of earlier steps, and in a tracked step `key`.
    pub struct RawStep as "step" {
        /// The step's name, unique within its scenario; metrics and `{step=NAME}` thresholds use
        /// it. Default: its position in `steps`, counting from 0 (`"0"`, `"1"`, ...).
        name: Option<Str> = "string", DefaultsTo("position");
        /// `METHOD target:/path`, e.g. `"POST api:/api/v1/runs"`. The target must exist; the
        /// path (with any query string) is a template.
        request: Option<Str> = "request line", Optional;
        /// Request headers (templates), added to the target's own headers.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// A JSON body, written as any TOML value; every string inside is a template.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// A raw body (a template), sent as is. Not together with `json`.
        body: Option<Str> = "template", Optional;
        /// Values to capture from the JSON response: `{ NAME = "$.json.path" }`. Later steps
        /// of the same iteration read them as `{{ NAME }}`.
        capture: Option<OrderedMap<Str>> = "table of JSONPaths", DefaultsTo("{}");
        /// What must hold of the response. Default: any 2xx status.
        expect: Option<Spanned<RawExpect>> = "table", DefaultsTo("{ status = 2xx }"), nested(Table, &RawExpect::SCHEMA);
        /// Repeat the request until a condition on its response holds.
        poll: Option<Spanned<RawPoll>> = "table", Optional, nested(Table, &RawPoll::SCHEMA);
        /// Register the unit of work this request creates in the ledger, which checks after
        /// settle that it was neither lost, duplicated nor stuck.
        track: Option<Spanned<RawTrack>> = "table", Optional, nested(Table, &RawTrack::SCHEMA);
        /// A pause instead of a request: `"100ms"`, or `["50ms", "200ms"]` for a uniformly
        /// random pause in that range (seeded).
        think: Option<Spanned<ThinkForm>> = "duration or [min, max]", Optional;
        /// A WebSocket session instead of a request (see `step ws`).
        ws: Option<Spanned<RawWs>> = "table", Optional, nested(Table, &RawWs::SCHEMA);
        /// A server-sent events stream instead of a request (see `step sse`).
        sse: Option<Spanned<RawSse>> = "table", Optional, nested(Table, &RawSse::SCHEMA);
    }
}

raw_table! {
    /// `expect = { ... }` in a step.
    pub struct RawExpect as "step expect" {
        /// Acceptable statuses: one code or a list.
        status: Option<Spanned<StatusForm>> = "status or list of statuses", DefaultsTo("any 2xx");
        /// Substrings the response body must contain.
        body_contains: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// JSONPath assertions: `{ "$.path" = value }`; the first match must equal the value.
        /// Strings in values are templates.
        json: Option<OrderedMap<Spanned<toml::Value>>> = "table of JSONPath = value", DefaultsTo("{}");
        /// The response must complete within this time.
        latency: Option<Str> = "duration", Optional;
    }
}

raw_table! {
    /// `poll = { ... }` in a step: repeat the request until the condition holds.
    pub struct RawPoll as "step poll" {
        /// JSONPath into the response body, e.g. `"$.status"`.
        until: Option<Str> = "JSONPath", Required;
        /// Values of `until` that end the polling, e.g. `["completed", "failed"]`.
        r#in: Option<Vec<Spanned<toml::Value>>> = "list of values", Required;
        /// Pause between attempts.
        interval: Option<Str> = "duration", DefaultsTo("\"1s\"");
        /// Give up (the step fails) after this long.
        timeout: Option<Str> = "duration", DefaultsTo("\"30s\"");
    }
}

raw_table! {
    /// `track = { ... }` in a step: how to find, later, the unit of work the request created.
    pub struct RawTrack as "step track" {
        /// The client-generated key (a template, usually `"{{ uuid() }}"`). It is sent as the
        /// `Idempotency-Key` header unless the step sets that header, and the step's templates
        /// can read it as `{{ key }}`.
        key: Option<Str> = "template", Required;
        /// `METHOD target:/path` that reads the work back: every job for the key, e.g.
        /// `"GET api:/api/v1/runs?key={{ key }}"`, or the one job by the id the submit answered
        /// with, e.g. `"GET api:/jobs/{{ job_id }}"` (it may read the step's own captures; a read
        /// that needs a capture the submit did not return is never sent, and cannot prove the
        /// job absent). A 404 or 410 answer means no job.
        read: Option<Str> = "request line", Required;
        /// Headers of the read request (templates).
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// JSONPath selecting the jobs in the read's response, e.g. `"$.runs[*]"`, or `"$"`
        /// when the read answers with the one job itself.
        items: Option<Str> = "JSONPath", Required;
        /// JSONPath, relative to one job, of its state, e.g. `"$.status"`.
        state: Option<Str> = "JSONPath", Required;
        /// JSONPath, relative to one job, of how many results it produced (finds duplicates).
        results: Option<Str> = "JSONPath", Optional;
        /// States that are terminal.
        terminal: Option<Vec<Str>> = "list of strings", Required;
        /// Terminal states that count as success; the other terminal states are failures.
        success: Option<Vec<Str>> = "list of strings", Required;
        /// The time objective of the work, e.g. `"30s"`: a job first seen terminal later than
        /// this after its submit is `slow`. Reads are made during settle, so the time is
        /// bounded by the poll interval; a key whose bounds straddle the objective is counted
        /// as undetermined, not as slow.
        objective: Option<Str> = "duration", Optional;
        /// JSONPath, relative to one job, of how many times a worker picked it up, e.g.
        /// `"$.attempts"`: gives stuck keys a subtype and feeds the attempts histogram.
        attempts: Option<Str> = "JSONPath", Optional;
        /// JSONPath, relative to one job, of a value that changes whenever the job makes
        /// progress, e.g. `"$.updated_at"`: a started job whose value stops moving is orphaned.
        updated: Option<Str> = "JSONPath", Optional;
        /// Non-terminal states in which a worker holds the job, e.g. `["running"]`: a stuck job
        /// never seen in one of them (and with 0 attempts) never started.
        started: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// A stuck job with more attempts than this is in a retry loop (needs `attempts`).
        max_attempts: Option<Spanned<i64>> = "integer > 0", Optional;
        /// JSONPath, relative to one job, of the client key the service stored with it, e.g.
        /// `"$.key"`: a job read back for one key whose own key is another is a `collision`.
        key_field: Option<Str> = "JSONPath", Optional;
        /// How an indeterminate submit (a 5xx, a timeout, a reset) is resolved after the load:
        /// `"read"` by the track's read alone (it can resolve it only when it does not need a
        /// capture the submit did not return), or `"replay"`: at settle, the same request is
        /// sent again with the same `Idempotency-Key`, as a real client would recover, and the
        /// job it answers with is read. A replay can create the job if the first attempt left
        /// nothing; that case is its own class, `replay_created`.
        resolve: Option<Str> = "\"read\" or \"replay\"", DefaultsTo("\"read\"");
        /// The statuses with which a replay says that it created the job (rather than
        /// returning the one the first attempt made).
        replay_created: Option<Spanned<StatusForm>> = "status or list of statuses", DefaultsTo("[201]");
    }
}
