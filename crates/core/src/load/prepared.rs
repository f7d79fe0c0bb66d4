//! A load test compiled for execution: done once per test, so the request path does no parsing
//! it can avoid.
//!
//! Literal URLs are parsed, literal headers converted, literal JSON bodies serialised, JSON
//! templates parsed, and every step given its metrics slot and its `__step` id. A fully literal
//! request to a plain http target is encoded to its HTTP/1.1 bytes here, once, and written as is
//! by the lean client ([`super::http1_client`]) at every send. Anything that
//! cannot be prepared (an unknown target, an invalid header name) becomes a broken step whose
//! every attempt is a counted failure with the reason, never a panic or a silent skip.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use minijinja::Value;
use reqwest::header::{HeaderName, HeaderValue};

use super::scope::{JsonTemplate, Shared};
use shakedown_plan::model::{
    Body, Capture, HeaderTemplate, HttpStep, LoadTest, Method, Plan, PollUntil, Resolve, StatusSet,
    StepKind, Target,
};
use shakedown_plan::template::Template;

/// A header whose value is fixed or rendered per request.
#[derive(Debug, Clone)]
pub struct HeaderSpec {
    /// The header name (validated).
    pub name: HeaderName,
    /// The value.
    pub value: HeaderValueSpec,
}

/// A header value: converted once if literal.
#[derive(Debug, Clone)]
pub enum HeaderValueSpec {
    /// A fixed value.
    Literal(HeaderValue),
    /// A value rendered per request.
    Template(Template),
}

/// A target as the load generator uses it.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Target name.
    pub name: String,
    /// Base URL, without a trailing slash.
    pub base_url: String,
    /// Headers sent with every request to it.
    pub headers: Vec<HeaderSpec>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Speak HTTP/2 (prior knowledge on http).
    pub http2: bool,
    /// Whether requests to it can take the lean HTTP/1.1 client (plain http, no HTTP/2, no
    /// credentials in the URL, no proxy in the environment).
    pub lean: bool,
    /// Why the target's headers cannot be sent, if they cannot: every step using it is broken.
    pub invalid: Option<String>,
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub enum UrlSpec {
    /// A fixed, parsed URL.
    Literal(reqwest::Url),
    /// The target's base URL joined to a rendered path.
    Template(Template),
}

/// A request body.
#[derive(Debug, Clone)]
pub enum BodySpec {
    /// Fixed bytes; `json` says whether to send `Content-Type: application/json`.
    Literal {
        /// The bytes.
        bytes: Bytes,
        /// Whether it is JSON.
        json: bool,
    },
    /// A JSON document with templates in it.
    Json(JsonTemplate),
    /// A raw body template.
    Raw(Template),
}

/// A JSON assertion with its expected value parsed as a template.
#[derive(Debug, Clone)]
pub struct JsonCheck {
    /// The JSONPath as written.
    pub source: String,
    /// The compiled JSONPath.
    pub path: serde_json_path::JsonPath,
    /// The expected value (strings are templates), or None for "exists".
    pub equals: Option<JsonTemplate>,
}

/// A tracked step's ledger details.
#[derive(Debug, Clone)]
pub struct TrackSpec {
    /// The key template.
    pub key: Template,
    /// The read request's method.
    pub read_method: Method,
    /// Index of the read's target in [`PreparedTest::targets`].
    pub read_target: usize,
    /// The read's path template.
    pub read_path: Template,
    /// The read's own headers.
    pub read_headers: Vec<HeaderTemplate>,
    /// With `resolve = "replay"`: the statuses with which a replay says it created the job.
    pub replay_created: Option<Vec<u16>>,
}

/// An HTTP step ready to send.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// The method on the wire.
    pub method: reqwest::Method,
    /// The plan's method (for the ledger and signatures).
    pub plan_method: Method,
    /// Index of the target in [`PreparedTest::targets`].
    pub target: usize,
    /// The URL.
    pub url: UrlSpec,
    /// The step's own headers (the target's are added at send time).
    pub headers: Vec<HeaderSpec>,
    /// The body.
    pub body: Option<BodySpec>,
    /// Captures.
    pub captures: Vec<Capture>,
    /// Acceptable statuses.
    pub status: StatusSet,
    /// Substrings the body must contain.
    pub body_contains: Vec<String>,
    /// JSON assertions.
    pub json: Vec<JsonCheck>,
    /// Latency bound.
    pub max_latency: Option<Duration>,
    /// Poll-until.
    pub poll: Option<PollUntil>,
    /// Ledger tracking.
    pub track: Option<TrackSpec>,
    /// Whether the body must be parsed as JSON (captures, JSON assertions, poll).
    pub needs_json: bool,
    /// Whether a check reads the whole body (JSON, `body_contains`): otherwise it is counted
    /// and dropped as it arrives, but for the start of it that a failure message quotes.
    pub needs_body: bool,
    /// Whether any template of the step (target headers included) needs a context.
    pub needs_context: bool,
    /// Whether the step or its target already sets `Idempotency-Key`.
    pub sets_idempotency_key: bool,
    /// Whether the step's requests take the lean HTTP/1.1 client: its target can, and neither
    /// sets a header the client manages itself (framing, connection).
    pub lean: bool,
    /// A fully literal request (URL, headers and body; no track key) for the lean client: its
    /// bytes, encoded once.
    pub wire: Option<Bytes>,
}

/// What a prepared step does.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// Send a request.
    Http(Box<HttpSpec>),
    /// Pause for a seeded random time in `[min, max]`.
    Think {
        /// Shortest pause.
        min: Duration,
        /// Longest pause.
        max: Duration,
    },
    /// A WebSocket session or SSE readers.
    Stream(Box<super::stream::StreamSpec>),
    /// A step that cannot run: each attempt is a counted failure with this message.
    Broken {
        /// The method, for the signature.
        method: &'static str,
        /// Why.
        message: String,
    },
}

/// One step of a prepared scenario.
#[derive(Debug, Clone)]
pub struct PreparedStep {
    /// Its index in the plan scenario's steps (the ledger's `TrackSite::step`).
    pub index: usize,
    /// Its metrics slot (index in the test's step names).
    pub slot: u32,
    /// The `__step` value: unique per (test, scenario, step), so seeded uuids never collide
    /// across tests.
    pub id: u64,
    /// What it does.
    pub action: StepAction,
}

/// A scenario of the mix, prepared.
#[derive(Debug, Clone)]
pub struct PreparedScenario {
    /// Scenario name.
    pub name: String,
    /// Its weight in the mix.
    pub weight: u32,
    /// Its steps.
    pub steps: Vec<PreparedStep>,
}

/// A load test prepared for execution.
#[derive(Debug, Clone)]
pub struct PreparedTest {
    /// The test's id.
    pub id: String,
    /// The test's position in the plan.
    pub index: usize,
    /// The plan's seed.
    pub seed: u64,
    /// Metric slots: distinct step names in order of first appearance.
    pub step_names: Vec<String>,
    /// The mix's scenarios, in mix order.
    pub scenarios: Vec<PreparedScenario>,
    /// Every target of the plan, by index.
    pub targets: Vec<TargetSpec>,
    /// Values shared by every template context.
    pub shared: Shared,
}

impl PreparedTest {
    /// The metric slots of the stream steps (WebSocket, SSE): a stream is open by design, so
    /// its seconds are not counted as requests in flight.
    pub fn stream_slots(&self) -> Vec<u32> {
        let mut slots: Vec<u32> = self
            .scenarios
            .iter()
            .flat_map(|s| s.steps.iter())
            .filter(|s| matches!(s.action, StepAction::Stream(_)))
            .map(|s| s.slot)
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots
    }

    /// Prepare `test` of `plan`.
    pub fn new(plan: &Plan, test: &LoadTest, run_id: &str) -> PreparedTest {
        // Load tests, then fault tests: each test has its own index, so that the seeded ids
        // (`uuid()`, and so the tracked keys) of two tests never coincide.
        let test_index = plan
            .load_tests
            .iter()
            .position(|t| t.id == test.id)
            .or_else(|| {
                let at = plan.faults.tests.iter().position(|t| t.id == test.id)?;
                Some(plan.load_tests.len() + at)
            })
            .unwrap_or(plan.load_tests.len() + plan.faults.tests.len());
        let targets: Vec<TargetSpec> = plan.targets.values().map(target_spec).collect();
        let target_index = |name: &str| plan.targets.keys().position(|k| k == name);
        let mut step_names: Vec<String> = Vec::new();
        let mut slot_of = |name: &str| -> u32 {
            let i = step_names
                .iter()
                .position(|n| n == name)
                .unwrap_or_else(|| {
                    step_names.push(name.to_string());
                    step_names.len() - 1
                });
            u32::try_from(i).unwrap_or(u32::MAX)
        };
        let mut scenarios = Vec::with_capacity(test.mix.len());
        for entry in &test.mix {
            let scenario_index = plan.scenarios.keys().position(|k| *k == entry.scenario);
            let steps = match (scenario_index, plan.scenarios.get(&entry.scenario)) {
                (Some(si), Some(scenario)) => scenario
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, step)| PreparedStep {
                        index: i,
                        slot: slot_of(&step.name),
                        id: step_id(test_index, si, i),
                        action: match &step.kind {
                            StepKind::Http(http) => prepare_http(http, &targets, &target_index),
                            StepKind::Ws(_) | StepKind::Sse(_) => {
                                super::stream::prepare(&step.kind, &targets, &target_index)
                            }
                            StepKind::Think { min, max } => StepAction::Think {
                                min: *min,
                                max: (*max).max(*min),
                            },
                        },
                    })
                    .collect(),
                _ => vec![PreparedStep {
                    index: 0,
                    slot: slot_of(&entry.scenario),
                    id: step_id(test_index, plan.scenarios.len(), 0),
                    action: StepAction::Broken {
                        method: "-",
                        message: format!("unknown scenario `{}`", entry.scenario),
                    },
                }],
            };
            scenarios.push(PreparedScenario {
                name: entry.scenario.clone(),
                weight: entry.weight,
                steps,
            });
        }
        let secrets: BTreeMap<&str, &str> = plan
            .secrets
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.as_str()))
            .collect();
        PreparedTest {
            id: test.id.clone(),
            index: test_index,
            seed: plan.seed,
            step_names,
            scenarios,
            targets,
            shared: Shared {
                secrets: Value::from_serialize(&secrets),
                vars: Value::from_serialize(&plan.vars),
                seed: Value::from(plan.seed),
                run: Value::from(run_id),
            },
        }
    }
}

/// `__step`: test, scenario and step packed into one number (20 bits each for scenario and step).
fn step_id(test: usize, scenario: usize, step: usize) -> u64 {
    ((test as u64) << 40) | (((scenario as u64) & 0xF_FFFF) << 20) | ((step as u64) & 0xF_FFFF)
}

fn target_spec(target: &Target) -> TargetSpec {
    let (headers, invalid) = match target.headers.iter().map(header_spec).collect() {
        Ok(headers) => (headers, None),
        Err(e) => (Vec::new(), Some(format!("target `{}`: {e}", target.name))),
    };
    TargetSpec {
        name: target.name.clone(),
        base_url: target.base_url.trim_end_matches('/').to_string(),
        headers,
        connect_timeout: target.connect_timeout,
        request_timeout: target.request_timeout,
        http2: target.http2,
        lean: super::http1_request::lean_target(&target.base_url, target.http2),
        invalid,
    }
}

/// A header name and value, validated; an error names the bad header.
pub fn header_spec(h: &HeaderTemplate) -> Result<HeaderSpec, String> {
    let name = HeaderName::from_bytes(h.name.as_bytes())
        .map_err(|_| format!("invalid header name {:?}", h.name))?;
    let value = if h.value.is_literal() {
        HeaderValueSpec::Literal(
            HeaderValue::from_str(h.value.source())
                .map_err(|_| format!("invalid value for header {:?}", h.name))?,
        )
    } else {
        HeaderValueSpec::Template(h.value.clone())
    };
    Ok(HeaderSpec { name, value })
}

/// `base` joined to `path` with exactly one slash.
pub fn join(base: &str, path: &str) -> String {
    if path.is_empty() || path.starts_with('/') || path.starts_with('?') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// The wire method.
pub fn wire_method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Head => reqwest::Method::HEAD,
        Method::Options => reqwest::Method::OPTIONS,
    }
}

fn prepare_http(
    http: &HttpStep,
    targets: &[TargetSpec],
    target_index: &dyn Fn(&str) -> Option<usize>,
) -> StepAction {
    match try_prepare_http(http, targets, target_index) {
        Ok(spec) => StepAction::Http(Box::new(spec)),
        Err(message) => StepAction::Broken {
            method: http.method.as_str(),
            message,
        },
    }
}

fn try_prepare_http(
    http: &HttpStep,
    targets: &[TargetSpec],
    target_index: &dyn Fn(&str) -> Option<usize>,
) -> Result<HttpSpec, String> {
    let target =
        target_index(&http.target).ok_or_else(|| format!("unknown target `{}`", http.target))?;
    if let Some(invalid) = &targets[target].invalid {
        return Err(invalid.clone());
    }
    let base = &targets[target].base_url;
    let url = if http.path.is_literal() {
        let text = join(base, http.path.source());
        UrlSpec::Literal(
            reqwest::Url::parse(&text).map_err(|e| format!("invalid URL {text:?}: {e}"))?,
        )
    } else {
        UrlSpec::Template(http.path.clone())
    };
    let headers = http
        .headers
        .iter()
        .map(header_spec)
        .collect::<Result<Vec<_>, _>>()?;
    let body = match &http.body {
        None => None,
        Some(Body::Json(doc)) => {
            let t = JsonTemplate::parse(doc).map_err(|e| format!("body template: {e}"))?;
            Some(match t {
                JsonTemplate::Literal(v) => BodySpec::Literal {
                    bytes: Bytes::from(serde_json::to_vec(&v).map_err(|e| format!("body: {e}"))?),
                    json: true,
                },
                t => BodySpec::Json(t),
            })
        }
        Some(Body::Raw(t)) if t.is_literal() => Some(BodySpec::Literal {
            bytes: Bytes::from(t.source().to_string()),
            json: false,
        }),
        Some(Body::Raw(t)) => Some(BodySpec::Raw(t.clone())),
    };
    let json = http
        .expect
        .json
        .iter()
        .map(|a| {
            Ok(JsonCheck {
                source: a.source.clone(),
                path: a.path.clone(),
                equals: a
                    .equals
                    .as_ref()
                    .map(JsonTemplate::parse)
                    .transpose()
                    .map_err(|e| format!("expected value of {}: {e}", a.source))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let track = match &http.track {
        None => None,
        Some(t) => Some(TrackSpec {
            key: t.key.clone(),
            read_method: t.read.method,
            read_target: target_index(&t.read.target)
                .ok_or_else(|| format!("unknown track read target `{}`", t.read.target))?,
            read_path: t.read.path.clone(),
            read_headers: t.read.headers.clone(),
            replay_created: match &t.resolve {
                Resolve::Read => None,
                Resolve::Replay { created } => Some(created.clone()),
            },
        }),
    };
    let is_idempotency = |name: &HeaderName| name.as_str().eq_ignore_ascii_case("idempotency-key");
    let sets_idempotency_key = headers.iter().any(|h| is_idempotency(&h.name))
        || targets[target]
            .headers
            .iter()
            .any(|h| is_idempotency(&h.name));
    let templated = |h: &HeaderSpec| matches!(h.value, HeaderValueSpec::Template(_));
    let needs_context = matches!(url, UrlSpec::Template(_))
        || headers.iter().any(templated)
        || targets[target].headers.iter().any(templated)
        || matches!(body, Some(BodySpec::Json(_) | BodySpec::Raw(_)))
        || json
            .iter()
            .any(|j| j.equals.as_ref().is_some_and(|e| !e.is_literal()))
        || track.is_some();
    let literal_request = matches!(url, UrlSpec::Literal(_))
        && !headers
            .iter()
            .chain(&targets[target].headers)
            .any(templated)
        && matches!(body, None | Some(BodySpec::Literal { .. }))
        && track.is_none();
    let lean = targets[target].lean
        && !headers
            .iter()
            .chain(&targets[target].headers)
            .any(|h| super::http1_request::framing_header(&h.name));
    let mut spec = HttpSpec {
        method: wire_method(http.method),
        plan_method: http.method,
        target,
        url,
        headers,
        body,
        captures: http.captures.clone(),
        status: http.expect.status.clone(),
        body_contains: http.expect.body_contains.clone(),
        needs_json: !http.captures.is_empty() || !json.is_empty() || http.poll.is_some(),
        needs_body: !http.captures.is_empty()
            || !json.is_empty()
            || http.poll.is_some()
            || !http.expect.body_contains.is_empty(),
        json,
        max_latency: http.expect.max_latency,
        poll: http.poll.clone(),
        track,
        needs_context,
        sets_idempotency_key,
        lean,
        wire: None,
    };
    if lean && literal_request {
        spec.wire = super::step::build_request(&targets[target], &spec, None, None)
            .ok()
            .map(|request| {
                let mut bytes = Vec::new();
                super::http1_request::encode_request(&request, &mut bytes);
                Bytes::from(bytes)
            });
    }
    Ok(spec)
}
