//! The Railway driver. This is a CONTRACT TEST: Railway cannot run here, so a fake GraphQL server
//! on 127.0.0.1 stands in for `backboard.railway.app`. It checks the exact documents shakedown
//! sends (`deployments` for the identity, `serviceInstanceRedeploy`, `deploymentRestart`) and the
//! `Authorization: Bearer` header, answers as Railway does, and rejects any other token. The run
//! directory is then searched for the token, which must appear in no output file. The example
//! `examples/railway-staging.toml` validates, and with wrong variables ends INCOMPLETE at
//! preflight, naming each rejected credential.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::check;
use crate::run::{assert_schema_valid, finish, report_json, shakedown, write_plan};

const TOKEN: &str = "rw-token-6b1f0c9e-contract";

/// The documents Railway's public API takes, exactly as shakedown must send them.
const LATEST: &str = "query latestDeployment($serviceId: String!, $environmentId: String!) { deployments(first: 1, input: { serviceId: $serviceId, environmentId: $environmentId }) { edges { node { id status } } } }";
const REDEPLOY: &str = "mutation serviceInstanceRedeploy($environmentId: String!, $serviceId: String!) { serviceInstanceRedeploy(environmentId: $environmentId, serviceId: $serviceId) }";
const RESTART: &str = "mutation deploymentRestart($id: String!) { deploymentRestart(id: $id) }";

#[derive(Default)]
struct Fake {
    deployment: u32,
    seen: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn graphql(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut fake = fake.lock().unwrap();
    fake.seen.push((auth.clone(), body.clone()));
    if auth != format!("Bearer {TOKEN}") {
        return (
            StatusCode::OK,
            Json(json!({ "errors": [{ "message": "Not Authorized" }] })),
        );
    }
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let answer = if query == LATEST
        && vars["serviceId"] == "svc-api"
        && vars["environmentId"] == "env-staging"
    {
        json!({ "data": { "deployments": { "edges": [{ "node": { "id": format!("dep-{}", fake.deployment), "status": "SUCCESS" } }] } } })
    } else if query == REDEPLOY
        && vars == &json!({ "environmentId": "env-staging", "serviceId": "svc-api" })
    {
        fake.deployment += 1;
        json!({ "data": { "serviceInstanceRedeploy": true } })
    } else if query == RESTART && vars["id"] == format!("dep-{}", fake.deployment) {
        json!({ "data": { "deploymentRestart": true } })
    } else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "errors": [{ "message": format!("unexpected document {body}") }] })),
        );
    };
    (StatusCode::OK, Json(answer))
}

async fn serve() -> (SocketAddr, Shared) {
    let fake = Shared::default();
    let app = axum::Router::new()
        .route("/graphql/v2", post(graphql))
        .route("/health", get(|| async { "ok" }))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, fake)
}

fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

fn plan(addr: SocketAddr) -> String {
    format!(
        r#"
[plan]
name = "railway-contract"
environment = "staging"
limits = {{ duration = "1m", requests = 1000 }}

[secrets]
railway_token = {{ env = "RAILWAY_TOKEN" }}

[targets.api]
url = "http://{addr}"
health = "GET /health"
control = {{ driver = "railway", service = "svc-api", environment = "env-staging", token = "railway_token", endpoint = "http://{addr}/graphql/v2", mode = "redeploy", timeout = "5s" }}

[targets.api-restart]
url = "http://{addr}"
health = "GET /health"
control = {{ driver = "railway", service = "svc-api", environment = "env-staging", token = "railway_token", endpoint = "http://{addr}/graphql/v2", mode = "restart", timeout = "5s" }}

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}, {{ think = "50ms" }}]

[[faults]]
id = "R1"
name = "Redeploy through Railway"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "1s" }} }} }}
timeline = [{{ at = "100ms", restart = "api" }}]
recovery = {{ probe = "api", healthy = 2, within = "5s", every = "100ms" }}
expect = ["recovery < 5s"]

[[faults]]
id = "R2"
name = "Restart through Railway keeps the deployment id"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "1s" }} }} }}
timeline = [{{ at = "100ms", restart = "api-restart" }}]
recovery = {{ probe = "api-restart", healthy = 2, within = "5s", every = "100ms" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_documents_auth_header_and_no_token_in_the_evidence() {
    let (addr, fake) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let plan_path = write_plan(dir.path(), &plan(addr));
    let run = dir.path().join("run");
    let mut command = shakedown();
    command
        .env("RAILWAY_TOKEN", TOKEN)
        .arg("run")
        .arg(&plan_path)
        .arg("--out")
        .arg(&run)
        .arg("--no-progress");
    let out = tokio::task::spawn_blocking(move || finish(command, Duration::from_secs(60)))
        .await
        .unwrap();
    let report = report_json(&run);
    assert_schema_valid(&report);
    let r1 = check(&report, "R1");
    assert_eq!(r1["status"], "PASS", "{r1}\nstderr:\n{}", out.stderr);
    let fault = &r1["fault"]["faults"][0];
    assert_eq!(fault["identity_before"], "dep-0");
    assert_eq!(fault["identity_after"], "dep-1");
    // deploymentRestart keeps the deployment: without an identity that changes, no proof.
    let r2 = check(&report, "R2");
    assert_eq!(r2["status"], "INCONCLUSIVE", "{r2}");
    assert_eq!(out.code, 3);

    let seen = fake.lock().unwrap().seen.clone();
    assert!(!seen.is_empty());
    for (auth, body) in &seen {
        assert_eq!(auth, &format!("Bearer {TOKEN}"));
        let query = body["query"].as_str().unwrap();
        assert!(
            [LATEST, REDEPLOY, RESTART].contains(&query),
            "unexpected document: {query}"
        );
    }
    let documents: Vec<&str> = seen
        .iter()
        .filter_map(|(_, b)| b["query"].as_str())
        .collect();
    assert!(documents.contains(&REDEPLOY) && documents.contains(&RESTART));
    assert_eq!(
        files_containing(&run, TOKEN),
        Vec::<String>::new(),
        "the token leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_railway_example_validates_and_wrong_credentials_are_incomplete_at_preflight() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/railway-staging.toml");
    let (addr, fake) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let refused: &'static str =
        Box::leak(format!("http://127.0.0.1:{}", crate::support::free_port()).into_boxed_str());
    let env = [
        ("STAGING_API_URL", refused),
        ("STAGING_MINIO_URL", refused),
        ("STAGING_OPS_API_KEY", "wrong-ops-key"),
        ("STAGING_PASSWORD", "wrong-password"),
        ("RAILWAY_TOKEN", "wrong-railway-token"),
        ("RAILWAY_ENVIRONMENT_ID", "env-staging"),
        ("RAILWAY_API_SERVICE_ID", "svc-api"),
    ];
    let graphql = format!("http://{addr}/graphql/v2");
    let mut validate = shakedown();
    validate
        .envs(env)
        .env("RAILWAY_GRAPHQL_URL", &graphql)
        .arg("validate")
        .arg(&example);
    let out = tokio::task::spawn_blocking(move || finish(validate, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);

    let example_run = example.clone();
    let run_dir = run.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut command = shakedown();
        command.envs(env).env("RAILWAY_GRAPHQL_URL", &graphql);
        command
            .arg("run")
            .arg(&example_run)
            .arg("--out")
            .arg(&run_dir)
            .arg("--no-progress");
        finish(command, Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert_eq!(
        out.code, 3,
        "INCOMPLETE\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&run);
    assert_eq!(report["verdict"], "INCOMPLETE");
    let preflight = report["preflight"].to_string();
    for control in ["api.control", "worker.control", "postgres.control"] {
        assert!(preflight.contains(control), "{preflight}");
    }
    assert!(
        preflight.contains("RAILWAY_TOKEN"),
        "names the token's variable: {preflight}"
    );
    assert!(preflight.contains("unreachable"), "{preflight}");
    for id in ["L1", "C1", "C2", "C3"] {
        assert_eq!(check(&report, id)["status"], "BLOCKED");
    }
    assert!(
        fake.lock()
            .unwrap()
            .seen
            .iter()
            .all(|(auth, _)| auth == "Bearer wrong-railway-token")
    );
    assert_eq!(
        files_containing(&run, "wrong-railway-token"),
        Vec::<String>::new()
    );
}
