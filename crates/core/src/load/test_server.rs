//! Test fixtures for the load generator: a small axum server on 127.0.0.1:0 with the behaviours
//! the tests need (captures, failures, polling, oversized bodies, slow responses, gauges), and
//! builders for hand-made plans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value as JsonValue, json};
use serde_json_path::JsonPath;
use tokio::sync::Notify;

use shakedown_plan::model::{
    Body, Capture, Environment, Executor, Expect, HeaderTemplate, HttpStep, Limits, LoadTest,
    Method, MixEntry, Plan, Scenario, Secrets, Settle, StatusSet, Step, StepKind, Target, Watch,
};
use shakedown_plan::template::Template;

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Runs created: id -> idempotency key (if one was sent).
    pub runs: Mutex<HashMap<String, Option<String>>>,
    /// GETs of existing runs.
    pub fetched: AtomicU64,
    /// Poll requests per job.
    pub polls: Mutex<HashMap<String, u64>>,
    /// Requests to /slow that arrived.
    pub slow: AtomicU64,
    /// Notified when a /slow request arrives.
    pub slow_arrived: Notify,
    next_id: AtomicU64,
}

/// Start the fixture server; returns its base URL and what it saw.
pub async fn serve() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/runs", post(create_run))
        .route("/runs/{id}", get(get_run))
        .route("/jobs/{id}", get(poll_job))
        .route("/fail", get(fail))
        .route("/big", get(big))
        .route("/slow", get(slow))
        .route("/fast", get(|| async { "ok" }))
        .route("/queue", get(|| async { Json(json!({"depth": 7})) }))
        .route("/locked", get(|| async { StatusCode::UNAUTHORIZED }))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

async fn create_run(
    State(seen): State<Arc<Seen>>,
    headers: HeaderMap,
) -> (StatusCode, Json<JsonValue>) {
    let n = seen.next_id.fetch_add(1, Ordering::Relaxed);
    let id = format!("r-{n}");
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    seen.runs.lock().unwrap().insert(id.clone(), key);
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "status": "queued"})),
    )
}

async fn get_run(
    State(seen): State<Arc<Seen>>,
    Path(id): Path<String>,
) -> (StatusCode, Json<JsonValue>) {
    if seen.runs.lock().unwrap().contains_key(&id) {
        seen.fetched.fetch_add(1, Ordering::Relaxed);
        (
            StatusCode::OK,
            Json(json!({"id": id, "status": "completed"})),
        )
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"error": "no such run"})))
    }
}

/// "running" for the first two polls of a job, then "done" (job "never" never finishes).
async fn poll_job(State(seen): State<Arc<Seen>>, Path(id): Path<String>) -> Json<JsonValue> {
    let mut polls = seen.polls.lock().unwrap();
    let n = polls.entry(id.clone()).or_default();
    *n += 1;
    let status = if id != "never" && *n > 2 {
        "done"
    } else {
        "running"
    };
    Json(json!({"id": id, "status": status}))
}

async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::SERVICE_UNAVAILABLE, "queue full for run 1234")
}

/// 5 MiB in 80 KiB chunks, without a content length.
async fn big() -> AxumBody {
    let chunk = bytes::Bytes::from(vec![b'x'; 80 * 1024]);
    let stream =
        futures::stream::iter((0..64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    AxumBody::from_stream(stream)
}

async fn slow(State(seen): State<Arc<Seen>>) -> &'static str {
    seen.slow.fetch_add(1, Ordering::Relaxed);
    seen.slow_arrived.notify_waiters();
    tokio::time::sleep(Duration::from_secs(60)).await;
    "late"
}

/// A base URL on which nothing listens.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// An HTTP step with default expectations (any 2xx).
pub fn http(name: &str, method: Method, target: &str, path: &str) -> (String, HttpStep) {
    (
        name.to_string(),
        HttpStep {
            method,
            target: target.to_string(),
            path: Template::parse(path).unwrap(),
            headers: Vec::new(),
            body: None,
            captures: Vec::new(),
            expect: Expect {
                status: StatusSet::Success,
                body_contains: Vec::new(),
                json: Vec::new(),
                max_latency: None,
            },
            poll: None,
            track: None,
        },
    )
}

/// A step from [`http`].
pub fn step((name, http): (String, HttpStep)) -> Step {
    Step {
        name,
        kind: StepKind::Http(Box::new(http)),
    }
}

/// A capture `name = path`.
pub fn capture(name: &str, path: &str) -> Capture {
    Capture {
        name: name.into(),
        source: path.into(),
        path: JsonPath::parse(path).unwrap(),
    }
}

/// A JSON body.
pub fn json_body(v: JsonValue) -> Option<Body> {
    Some(Body::Json(v))
}

/// A header.
pub fn header(name: &str, value: &str) -> HeaderTemplate {
    HeaderTemplate {
        name: name.into(),
        value: Template::parse(value).unwrap(),
    }
}

/// Exactly these statuses.
pub fn codes(c: &[u16]) -> StatusSet {
    StatusSet::Codes(c.iter().copied().collect())
}

/// A target `name` at `url` with short timeouts.
pub fn target(name: &str, url: &str) -> Target {
    Target {
        name: name.into(),
        base_url: url.into(),
        headers: Vec::new(),
        health: None,
        preflight: Vec::new(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        http2: false,
        secrets_used: BTreeSet::new(),
        identity: None,
        control: None,
    }
}

/// A load test `id` over `mix` (scenario, weight).
pub fn load_test(id: &str, mix: &[(&str, u32)], executor: Executor) -> LoadTest {
    LoadTest {
        id: id.into(),
        name: id.into(),
        required: true,
        mix: mix
            .iter()
            .map(|(s, w)| MixEntry {
                scenario: s.to_string(),
                weight: *w,
            })
            .collect(),
        executor,
        thresholds: Vec::new(),
        samplers: Vec::new(),
        targets: BTreeSet::new(),
        graceful_stop: None,
    }
}

/// A plan with these targets, scenarios (name, steps) and tests.
pub fn plan(targets: Vec<Target>, scenarios: Vec<(&str, Vec<Step>)>, tests: Vec<LoadTest>) -> Plan {
    Plan {
        name: "load-tests".into(),
        environment: Environment::Local,
        seed: 42,
        limits: Limits {
            duration: Duration::from_secs(120),
            requests: 100_000,
            rate: None,
        },
        settle: Settle {
            timeout: Duration::from_secs(5),
            interval: Duration::from_millis(50),
            watch: Watch::every(Duration::from_millis(50)),
        },
        secrets: Secrets::default(),
        vars: BTreeMap::new(),
        warnings: Vec::new(),
        targets: targets.into_iter().map(|t| (t.name.clone(), t)).collect(),
        scenarios: scenarios
            .into_iter()
            .map(|(name, steps)| {
                (
                    name.to_string(),
                    Scenario {
                        name: name.to_string(),
                        steps,
                    },
                )
            })
            .collect(),
        load_tests: tests,
        faults: Default::default(),
        evidence: Default::default(),
        proxies: Default::default(),
        oracles: Default::default(),
        verifications: Vec::new(),
        source: PathBuf::from("plan.toml"),
        redacted_source: String::new(),
    }
}
