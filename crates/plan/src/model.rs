//! The validated, immutable plan. The engine only ever sees these types.
//!
//! Everything here has already been checked by `compile.rs`: targets referenced by steps exist,
//! templates parse and only use variables that will be defined, JSONPaths parse, thresholds parse,
//! and the mandatory bounds are present. Secret values live only in [`Secrets`], whose `Debug`
//! never prints them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json_path::JsonPath;

use crate::template::Template;

/// A compiled plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's name, from `[plan] name`.
    pub name: String,
    /// Where the plan runs; fault injection against production needs an explicit flag.
    pub environment: Environment,
    /// The seed for every random choice (uuids in templates, schedules, fault selection).
    pub seed: u64,
    /// Hard bounds the engine enforces on the whole run.
    pub limits: Limits,
    /// How long, and how often, the settle phase polls tracked work.
    pub settle: Settle,
    /// Secret values taken from the environment. Never written to any output.
    pub secrets: Secrets,
    /// Plain values available to templates as `{{ vars.NAME }}`.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// What `validate` warns about (rendered, secrets redacted): legal, but probably not meant,
    /// such as a test with no threshold or a `[vars]` entry nothing reads.
    pub warnings: Vec<String>,
    /// Named services under test.
    pub targets: BTreeMap<String, Target>,
    /// Named journeys.
    pub scenarios: BTreeMap<String, Scenario>,
    /// Load tests, in the order they run.
    pub load_tests: Vec<LoadTest>,
    /// Fault tests (run after the load tests) and stop conditions.
    pub faults: crate::faults::model::FaultPlan,
    /// What the evidence bundle may record about the machine.
    pub evidence: Evidence,
    /// Fault proxies, by name (`[proxies.NAME]`).
    pub proxies: BTreeMap<String, crate::proxies::model::ProxySpec>,
    /// Oracles by name: stores the verification checks read directly.
    pub oracles: BTreeMap<String, crate::verify::model::Oracle>,
    /// Verification checks, in plan order, run after settle.
    pub verifications: Vec<crate::verify::model::Verification>,
    /// The file the plan came from.
    pub source: PathBuf,
    /// The plan file's text with every secret value redacted: the "effective plan" of the
    /// evidence bundle.
    pub redacted_source: String,
}

/// What the evidence bundle may record about the machine that ran the gate (`[evidence]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Record the hostname in `manifest.json`'s environment fingerprint.
    pub hostname: bool,
}

/// The environment a plan targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer machine or CI runner.
    Local,
    /// A staging deployment.
    Staging,
    /// Production: faults need `--allow-production`.
    Production,
}

/// The run's hard bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Maximum wall time of the whole run.
    pub duration: Duration,
    /// Maximum number of requests the run sends, over all tests.
    pub requests: u64,
    /// Maximum request rate per second over all tests, if set.
    pub rate: Option<f64>,
}

/// Settle-phase configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settle {
    /// How long to wait for every tracked unit of work to reach a terminal state.
    pub timeout: Duration,
    /// Pause between polling rounds.
    pub interval: Duration,
    /// How the ledger reads tracked work during the run, before settle.
    pub watch: Watch,
}

/// The ledger's reads of tracked work during the run (`[settle.watch]`): they make time to
/// terminal a measured figure and let a brief state regression be seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    /// Whether the ledger reads tracked keys during the run at all.
    pub enabled: bool,
    /// Pause between two reads of one key.
    pub interval: Duration,
    /// How long a key seen terminal is read again, to catch a brief regression.
    pub confirm: Duration,
    /// Reads may be at most this share of the requests the load has sent so far.
    pub share: f64,
    /// At most this many reads per second.
    pub max_rate: f64,
}

impl Watch {
    /// The defaults, reading every `interval` (the settle interval unless the plan says).
    pub fn every(interval: Duration) -> Watch {
        Watch {
            enabled: true,
            interval,
            confirm: Duration::from_secs(1),
            share: 0.5,
            max_rate: 200.0,
        }
    }
}

/// Secret values by name. `Debug` prints names only.
#[derive(Clone, Default)]
pub struct Secrets {
    /// name -> (environment variable, value).
    pub values: BTreeMap<String, SecretValue>,
    /// Passwords found in the userinfo of target URLs (`http://user:password@host`), by a name
    /// such as `url_password_api`: redacted like secrets (a server may echo the `Basic` header
    /// made from them), but not readable by templates.
    pub url_passwords: BTreeMap<String, String>,
}

/// One secret: where it came from and its value.
#[derive(Clone)]
pub struct SecretValue {
    /// The environment variable it was read from.
    pub env: String,
    /// The value. Never print it.
    pub value: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.values
                    .iter()
                    .map(|(k, v)| (k, format!("<redacted from ${}>", v.env))),
            )
            .entries(
                self.url_passwords
                    .keys()
                    .map(|k| (k, "<redacted from a target URL>".to_string())),
            )
            .finish()
    }
}

impl Secrets {
    /// Every secret value, for redaction. Empty values are skipped: they would match everything.
    pub fn redaction_values(&self) -> Vec<&str> {
        self.values
            .values()
            .map(|v| v.value.as_str())
            .chain(self.url_passwords.values().map(String::as_str))
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The environment variable a secret is read from, for fix hints.
    pub fn env_of(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.env.as_str())
    }
}

/// A named service under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in the plan (`[targets.NAME]`).
    pub name: String,
    /// Base URL, with `${ENV}` already interpolated; no trailing slash.
    pub base_url: String,
    /// Headers sent with every request to this target (templated, usually with secrets).
    pub headers: Vec<HeaderTemplate>,
    /// Health probe, checked at preflight.
    pub health: Option<Probe>,
    /// Extra preflight probes, typically to prove credentials work before any load.
    pub preflight: Vec<Probe>,
    /// Connect timeout for every connection to this target.
    pub connect_timeout: Duration,
    /// Timeout of a whole request to this target.
    pub request_timeout: Duration,
    /// Speak HTTP/2 to this target (prior knowledge on http).
    pub http2: bool,
    /// Secrets this target's headers and probes reference, for fix hints on 401/403.
    pub secrets_used: BTreeSet<String>,
    /// How to read what proves a restart of this target.
    pub identity: Option<crate::faults::model::IdentityProbe>,
    /// How shakedown controls this target for faults.
    pub control: Option<crate::faults::model::Control>,
}

/// A request header whose value is a template.
#[derive(Debug, Clone)]
pub struct HeaderTemplate {
    /// Header name.
    pub name: String,
    /// Header value template.
    pub value: Template,
}

/// A request the engine sends outside a scenario (health, preflight, samplers, track reads).
#[derive(Debug, Clone)]
pub struct Probe {
    /// HTTP method.
    pub method: Method,
    /// Path relative to the target's base URL (templated; may carry a query string).
    pub path: Template,
    /// Extra headers for this probe.
    pub headers: Vec<HeaderTemplate>,
    /// Statuses that count as success.
    pub expect_status: StatusSet,
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    /// The method as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// A set of acceptable HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSet {
    /// Any 2xx.
    Success,
    /// Exactly these codes.
    Codes(BTreeSet<u16>),
}

impl StatusSet {
    /// Whether `code` is acceptable.
    pub fn contains(&self, code: u16) -> bool {
        match self {
            StatusSet::Success => (200..300).contains(&code),
            StatusSet::Codes(codes) => codes.contains(&code),
        }
    }
}

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

/// A load test: a scenario mix driven by an executor, judged by thresholds.
#[derive(Debug, Clone)]
pub struct LoadTest {
    /// Short id, e.g. `L1`; `--only` selects by it.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Whether the verdict depends on it (default true).
    pub required: bool,
    /// The scenarios and their weights (a single scenario has weight 1).
    pub mix: Vec<MixEntry>,
    /// How load is generated.
    pub executor: Executor,
    /// Pass criteria.
    pub thresholds: Vec<Threshold>,
    /// Gauges sampled periodically while the test runs (e.g. queue depth).
    pub samplers: Vec<Sampler>,
    /// Every target the test touches (steps, track reads, samplers): a BLOCKED target blocks it.
    pub targets: BTreeSet<String>,
    /// How long iterations in flight at the end of the executor's duration may go on before
    /// their requests are cancelled (counted as cancelled); None lets them run to their end.
    pub graceful_stop: Option<Duration>,
}

/// One entry of a weighted scenario mix.
#[derive(Debug, Clone)]
pub struct MixEntry {
    /// Scenario name.
    pub scenario: String,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// Closed-model executors.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `concurrency` VUs each run one iteration per round; rounds run one after another.
    Rounds {
        /// VUs per round.
        concurrency: u32,
        /// Number of rounds.
        rounds: u32,
    },
    /// `vus` VUs loop over their scenario for `duration`.
    VusDuration {
        /// Number of VUs.
        vus: u32,
        /// How long.
        duration: Duration,
    },
    /// `vus` VUs share `iterations` iterations in total.
    VusIterations {
        /// Number of VUs.
        vus: u32,
        /// Total iterations.
        iterations: u64,
    },
    /// Open model: iterations start on a schedule at a constant or ramping rate.
    Arrival(crate::load::model_open::ArrivalRate),
}

/// A periodically sampled gauge: a request whose JSON value is recorded.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// The gauge's name, used in thresholds as `max(NAME)`.
    pub name: String,
    /// The request.
    pub probe: Probe,
    /// Target of the request.
    pub target: String,
    /// JSONPath of the numeric value.
    pub value: JsonPath,
    /// Sampling period.
    pub every: Duration,
}

/// A compiled threshold, e.g. `p(95) < 500ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written, for the report.
    pub source: String,
    /// What is measured.
    pub metric: ThresholdMetric,
    /// Restrict latency/count metrics to one step, e.g. `p(95){step=create} < 200ms`.
    pub step: Option<String>,
    /// Restrict latency/count metrics to some seconds of the test, e.g.
    /// `p(99){window=10s..20s} < 200ms` or `{window=during_fault}`.
    pub window: Option<crate::load::model_open::WindowScope>,
    /// Comparison.
    pub op: CmpOp,
    /// Right-hand side, in the metric's unit (milliseconds for latencies).
    pub value: f64,
    /// Added by shakedown, not written in the plan: the default `count(failures) == 0` of a
    /// test whose thresholds say nothing about failures (see [`crate::load::threshold_default`]).
    pub default: bool,
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdMetric {
    /// Latency percentile, e.g. `p(95)`; value in milliseconds.
    Percentile(f64),
    /// Mean latency, ms.
    Avg,
    /// Minimum latency, ms.
    Min,
    /// Maximum latency, ms.
    Max,
    /// Median latency, ms.
    Med,
    /// A ratio over requests, e.g. `rate(failures)`.
    Rate(Counter),
    /// A count, e.g. `count(failures)`.
    Count(Counter),
    /// An aggregate of a sampled gauge, e.g. `max(queue_depth)`.
    Gauge {
        /// Which aggregate.
        agg: GaugeAgg,
        /// Sampler name.
        name: String,
    },
    /// A ledger class count, e.g. `lost`, `duplicates`, `stuck`.
    Ledger(LedgerClass),
}

/// Countable request outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Counter {
    /// Requests sent.
    Requests,
    /// Requests whose expectations did not hold (includes errors).
    Failures,
    /// Requests that got no response (connect, timeout, protocol errors).
    Errors,
    /// Scenario iterations completed.
    Iterations,
    /// Open model: sends that could not start on time.
    Dropped,
}

/// Aggregates of a sampled gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum GaugeAgg {
    Max,
    Min,
    Avg,
    Last,
}

/// Ledger classes usable in thresholds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LedgerClass {
    /// Acknowledged, terminal and successful.
    Ok,
    /// Acknowledged, gone at the end.
    Lost,
    /// One key produced two jobs, or one job two results.
    Duplicates,
    /// Exists, not terminal after settle.
    Stuck,
    /// Could not be decided.
    Unknown,
    /// Terminal in a failure state (the job ran and failed).
    Failed,
    /// Indeterminate submit (5xx, reset, timeout), found later; then checked like an acked one.
    Recovered,
    /// Indeterminate submit, absent after a complete settle.
    NotApplied,
    /// Definitely rejected, and absent at the end, as expected.
    Rejected,
    /// Definitely rejected, yet it exists.
    Resurrected,
    /// A read saw the job terminal, and a later read saw it non-terminal again.
    StateRegression,
    /// Reads saw the job in two different terminal states, or two jobs of the key ended in
    /// different terminal states.
    ConflictingTerminal,
    /// Terminal, but later than the track's `objective` after the submit.
    Slow,
    /// One job seen under two or more keys, or a job whose own key (`track.key_field`) is not
    /// the key it was read for: the mapping from keys to jobs is not one-to-one.
    Collision,
    /// Indeterminate submit whose replay (`track.resolve = "replay"`) created the job: the first
    /// attempt had left nothing. Then checked like an acknowledged one.
    ReplayCreated,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    /// Apply the comparison.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Eq => (lhs - rhs).abs() < f64::EPSILON,
            CmpOp::Ne => (lhs - rhs).abs() >= f64::EPSILON,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}
