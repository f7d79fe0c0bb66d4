//! The model of a scenario: its steps (HTTP, stream, think), what they capture and expect, and
//! `track`, the unit of work a step registers in the ledger.

use std::time::Duration;

use serde_json_path::JsonPath;

use crate::model::{Method, StatusSet};
use crate::targets::model::HeaderTemplate;
use crate::template::Template;

/// A named journey: ordered steps run by one virtual user per iteration.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name in the plan.
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a scenario.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step's name (given, or its 0-based index in the scenario); metrics are keyed by it.
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
}

/// The closed set of step kinds.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// An HTTP request, optionally polled until a condition holds, optionally tracked.
    Http(Box<HttpStep>),
    /// Think time: a pause, uniformly random in `[min, max]` (seeded).
    Think {
        /// Shortest pause.
        min: Duration,
        /// Longest pause.
        max: Duration,
    },
    /// A WebSocket session: connect, send, expect events in order, close.
    Ws(Box<crate::streams::model::WsStep>),
    /// A server-sent events stream, resumed with `Last-Event-ID`.
    Sse(Box<crate::streams::model::SseStep>),
}

/// An HTTP request step.
#[derive(Debug, Clone)]
pub struct HttpStep {
    /// HTTP method.
    pub method: Method,
    /// Name of the target whose base URL the path is joined to.
    pub target: String,
    /// Path (templated).
    pub path: Template,
    /// Headers (templated), added to the target's own.
    pub headers: Vec<HeaderTemplate>,
    /// Request body, if any.
    pub body: Option<Body>,
    /// Values captured from the JSON response into the VU's variables.
    pub captures: Vec<Capture>,
    /// What must hold of the response.
    pub expect: Expect,
    /// Repeat the request until a condition holds.
    pub poll: Option<PollUntil>,
    /// Register the unit of work this request created in the ledger.
    pub track: Option<Track>,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// A JSON document; every string in it is a template.
    Json(serde_json::Value),
    /// A raw body template, sent as is.
    Raw(Template),
}

/// A capture: `name = "$.json.path"`.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Variable name the value is stored under.
    pub name: String,
    /// The JSONPath, as written.
    pub source: String,
    /// The compiled JSONPath; the first match is captured.
    pub path: JsonPath,
}

/// Expectations on a response.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Acceptable statuses (default: any 2xx).
    pub status: StatusSet,
    /// Substrings the body must contain.
    pub body_contains: Vec<String>,
    /// JSONPath assertions on the body.
    pub json: Vec<JsonAssertion>,
    /// The response must complete within this time.
    pub max_latency: Option<Duration>,
}

/// A JSONPath assertion: the first match must equal `equals`, or (if `equals` is None) exist.
#[derive(Debug, Clone)]
pub struct JsonAssertion {
    /// The JSONPath as written.
    pub source: String,
    /// The compiled JSONPath.
    pub path: JsonPath,
    /// The expected value, if any.
    pub equals: Option<serde_json::Value>,
}

/// Poll-until: repeat the request until `until` holds or `timeout` passes.
#[derive(Debug, Clone)]
pub struct PollUntil {
    /// The condition on the response body.
    pub until: Condition,
    /// Pause between attempts.
    pub interval: Duration,
    /// Give up (the step fails) after this long.
    pub timeout: Duration,
}

/// A condition on a JSON response: the first match of `path` is one of `values`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The JSONPath as written.
    pub source: String,
    /// The compiled JSONPath.
    pub path: JsonPath,
    /// Accepted values.
    pub one_of: Vec<serde_json::Value>,
}

/// How to track the unit of work a request created (DESIGN section 7).
#[derive(Debug, Clone)]
pub struct Track {
    /// The client-generated key (templated); also sent as `Idempotency-Key` when the step's
    /// headers do not already set it.
    pub key: Template,
    /// The request that reads every job for a key (e.g. `GET api:/api/v1/runs?key={{ key }}`).
    /// Its target and path are templated with the VU's variables at track time.
    pub read: TrackRead,
    /// JSONPath selecting the list of jobs in the read's response (e.g. `$.runs[*]`).
    pub items: JsonPath,
    /// JSONPath, relative to one job, of its state (e.g. `$.status`).
    pub state: JsonPath,
    /// JSONPath, relative to one job, of how many results it produced, if the API reports it.
    pub results: Option<JsonPath>,
    /// States that are terminal.
    pub terminal: Vec<String>,
    /// Terminal states that count as success (the rest of `terminal` are failures of the job).
    pub success: Vec<String>,
    /// What else a read tells about a job's progress, and the objective it is held to.
    pub oracle: TrackOracle,
    /// JSONPath, relative to one job, of the client key the service stored with it.
    pub key_field: Option<JsonPath>,
    /// How an indeterminate submit is resolved.
    pub resolve: Resolve,
}

/// How an indeterminate submit of a track step is resolved after the load (DESIGN section 7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Resolve {
    /// By the track's read alone.
    #[default]
    Read,
    /// By sending the submit again with the same key at settle, then reading the job it
    /// answers with.
    Replay {
        /// Statuses with which the replay says it created the job.
        created: Vec<u16>,
    },
}

/// The optional parts of a track spec that refine the ledger's classes: the time objective
/// (`slow`) and the progress signals that give `stuck` keys a subtype.
#[derive(Debug, Clone, Default)]
pub struct TrackOracle {
    /// A job first seen terminal later than this after its submit is `slow`.
    pub objective: Option<Duration>,
    /// JSONPath, relative to one job, of how many times a worker picked it up.
    pub attempts: Option<JsonPath>,
    /// JSONPath, relative to one job, of a value that changes whenever it makes progress
    /// (e.g. `$.updated_at`).
    pub updated: Option<JsonPath>,
    /// Non-terminal states in which a worker holds the job (e.g. `running`).
    pub started: Vec<String>,
    /// More attempts than this is a retry loop.
    pub max_attempts: Option<u64>,
}

/// The read request of a track step.
#[derive(Debug, Clone)]
pub struct TrackRead {
    /// HTTP method (normally GET).
    pub method: Method,
    /// Target name.
    pub target: String,
    /// Path template.
    pub path: Template,
    /// Extra headers (templated).
    pub headers: Vec<HeaderTemplate>,
}
