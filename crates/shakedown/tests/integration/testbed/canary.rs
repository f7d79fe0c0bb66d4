//! The canary endpoint: a real HTTP call from the API to its upstream (its own LLM-like route by
//! default, or one the test serves), the provenance it answers with, the `canary-reused-id`
//! defect against its clean twin, and 502s that name a failing upstream.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};

use super::start;
use crate::support::client::Client;
use crate::support::free_port;
use crate::support::stack::StackOptions;

/// `POST /api/v1/canary` with the client's token (or none); the status and JSON body.
async fn canary(client: &Client, token: bool, body: Value) -> (StatusCode, Value) {
    let mut request = client.http.post(client.url("/api/v1/canary")).json(&body);
    if token {
        request = request.bearer_auth(&client.token);
    }
    let response = request.send().await.expect("canary request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Call the canary `n` times on a fresh stack; return the answers (each must be 200).
async fn canary_answers(defect: Option<&str>, n: usize) -> Vec<Value> {
    let mut options = StackOptions::new().workers(0);
    if let Some(defect) = defect {
        options = options.defect(defect);
    }
    let (_stack, client) = start(options).await;
    let mut answers = Vec::with_capacity(n);
    for i in 0..n {
        let (status, body) = canary(&client, true, json!({ "prompt": format!("probe {i}") })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        answers.push(body);
    }
    answers
}

fn request_ids(answers: &[Value]) -> Vec<String> {
    answers
        .iter()
        .map(|a| a["request_id"].as_str().expect("request_id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_ids_are_unique_and_canary_reused_id_repeats_them() {
    let clean = canary_answers(None, 6).await;
    let ids = request_ids(&clean);
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "clean ids repeat: {ids:?}");
    for answer in &clean {
        assert_eq!(answer["model"], "testbed-llm-1", "{answer}");
        let tokens = &answer["tokens"];
        let (prompt, completion) = (tokens["prompt"].as_u64(), tokens["completion"].as_u64());
        // "probe N" is two words; the answer "ack: probe N" three.
        assert_eq!((prompt, completion), (Some(2), Some(3)), "{answer}");
        assert_eq!(tokens["total"], 5, "{answer}");
        assert!(
            answer["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
            "{answer}"
        );
        assert!(
            answer["upstream_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{answer}"
        );
        let upstream = answer["upstream"].as_str().expect("upstream");
        assert!(upstream.ends_with("/api/v1/canary/upstream"), "{answer}");
    }

    let defective = canary_answers(Some("canary-reused-id"), 6).await;
    let ids = request_ids(&defective);
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 1, "with canary-reused-id: {ids:?}");
    // Everything else is still there: only the id is stale.
    assert!(
        defective.iter().all(|a| a["tokens"]["total"] == 5),
        "{defective:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_needs_a_token_and_a_well_formed_body() {
    let (_stack, client) = start(StackOptions::new().workers(0)).await;
    let (status, body) = canary(&client, false, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = canary(&client, true, json!({ "prompt": 7 })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("prompt")),
        "{body}"
    );
}

/// An upstream the test controls: `/ok` answers like a provider (and counts its calls), `/slow`
/// never answers in time, `/broken` answers 500, `/partial` answers without a request id.
async fn serve_upstream() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    async fn ok(State(calls): State<Arc<AtomicUsize>>, Json(body): Json<Value>) -> Json<Value> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Json(json!({
            "request_id": format!("ext-{n}"),
            "model": "external-model",
            "usage": { "prompt_tokens": 11, "completion_tokens": 13 },
            "cost_usd": 0.25,
            "output": body["prompt"],
        }))
    }
    async fn slow() -> Json<Value> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Json(json!({}))
    }
    async fn broken() -> (StatusCode, &'static str) {
        (StatusCode::INTERNAL_SERVER_ERROR, "provider on fire")
    }
    async fn partial() -> Json<Value> {
        Json(json!({ "model": "m", "usage": {}, "cost_usd": 1.0 }))
    }
    let app = axum::Router::new()
        .route("/ok", post(ok))
        .route("/slow", post(slow))
        .route("/broken", post(broken))
        .route("/partial", post(partial))
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the upstream");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("upstream address")
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, calls)
}

/// A stack whose canary calls `upstream`, with a 500 ms timeout.
async fn stack_calling(upstream: &str) -> (crate::support::stack::Stack, Client) {
    let options = StackOptions::new()
        .workers(0)
        .env("TESTBED_CANARY_UPSTREAM", upstream)
        .env("TESTBED_CANARY_TIMEOUT_MS", "500");
    start(options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_relays_a_configured_upstream_over_http() {
    let (base, calls) = serve_upstream().await;
    let upstream = format!("{base}/ok");
    let (_stack, client) = stack_calling(&upstream).await;
    for i in 0..3 {
        let (status, body) = canary(&client, true, json!({ "prompt": "hello" })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["request_id"], format!("ext-{i}"), "{body}");
        assert_eq!(body["model"], "external-model", "{body}");
        assert_eq!(
            body["tokens"],
            json!({"prompt": 11, "completion": 13, "total": 24})
        );
        assert_eq!(body["cost_usd"], 0.25, "{body}");
        assert_eq!(body["upstream"], upstream.as_str(), "{body}");
        assert_eq!(body["output"], "hello", "{body}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "one upstream call per canary call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_is_a_502_naming_it() {
    let (base, _calls) = serve_upstream().await;
    let refused = format!("http://127.0.0.1:{}/v1/complete", free_port());
    let cases = [
        (format!("{base}/slow"), "no answer within 500 ms"),
        (format!("{base}/broken"), "HTTP 500"),
        (format!("{base}/partial"), "no request_id"),
        (refused, "cannot connect"),
    ];
    for (upstream, reason) in cases {
        let (_stack, client) = stack_calling(&upstream).await;
        let (status, body) = canary(&client, true, json!({})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{upstream}: {body}");
        assert_eq!(body["upstream"], upstream.as_str(), "{body}");
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains(&upstream), "{detail}");
        assert!(detail.contains(reason), "{upstream}: {detail}");
    }
}
