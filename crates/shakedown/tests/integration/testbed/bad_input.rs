//! Bad input gets the right 4xx with a JSON error and never crashes the API; a database outage
//! gets 503s and loses nothing; the chaos endpoints act for real; one key never makes two runs.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{start, steps, submit_many};
use crate::support::client::{Client, OPS_KEY, Reply};
use crate::support::stack::StackOptions;
use crate::support::{pid_alive, wait_for};

async fn post_runs(
    client: &Client,
    token: Option<&str>,
    key: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = client
        .http
        .post(client.url("/api/v1/runs"))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("POST /api/v1/runs");
    let status = response.status();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Reply { status, body }
}

fn assert_json_error(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert!(
        reply.body["detail"].is_string(),
        "not a JSON error: {:?}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_4xx_and_the_api_survives() {
    let (stack, client) = start(StackOptions::new().workers(0)).await;
    let token = client.token.clone();
    let good = br#"{"kind":"simulate"}"#.to_vec();

    let malformed = post_runs(&client, Some(&token), Some("k1"), b"{not json".to_vec()).await;
    assert_json_error(&malformed, StatusCode::BAD_REQUEST);
    let unknown = post_runs(
        &client,
        Some(&token),
        Some("k2"),
        br#"{"kind":"bake"}"#.to_vec(),
    )
    .await;
    assert_json_error(&unknown, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = format!(
        r#"{{"kind":"simulate","params":{{"pad":"{}"}}}}"#,
        "x".repeat(100_000)
    );
    let oversized = post_runs(&client, Some(&token), Some("k3"), huge.into_bytes()).await;
    assert_json_error(&oversized, StatusCode::PAYLOAD_TOO_LARGE);
    let no_key = post_runs(&client, Some(&token), None, good.clone()).await;
    assert_json_error(&no_key, StatusCode::BAD_REQUEST);
    let bad_token = post_runs(&client, Some("not.a.jwt"), Some("k4"), good.clone()).await;
    assert_json_error(&bad_token, StatusCode::UNAUTHORIZED);
    let no_token = post_runs(&client, None, Some("k5"), good.clone()).await;
    assert_json_error(&no_token, StatusCode::UNAUTHORIZED);
    let missing = client.get("/api/v1/runs/no-such-run").await;
    assert_json_error(&missing, StatusCode::NOT_FOUND);
    let missing_events = client.get("/api/v1/runs/no-such-run/events").await;
    assert_json_error(&missing_events, StatusCode::NOT_FOUND);

    let no_route = client.get("/api/v1/nothing-here").await;
    assert_json_error(&no_route, StatusCode::NOT_FOUND);
    let wrong_method = client
        .http
        .delete(client.url("/api/v1/runs"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE /api/v1/runs");
    let wrong_method = Reply {
        status: wrong_method.status(),
        body: wrong_method.json().await.unwrap_or(serde_json::Value::Null),
    };
    assert_json_error(&wrong_method, StatusCode::METHOD_NOT_ALLOWED);

    let wrong_password = client
        .http
        .post(client.url("/api/v1/auth/login"))
        .json(&json!({"username": "tester", "password": "guess"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(client.health().await.status, StatusCode::OK);
    assert!(pid_alive(stack.info.api_pid), "the API died");
    let accepted = post_runs(&client, Some(&token), Some("k6"), good).await;
    assert_eq!(accepted.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_never_makes_two_runs_even_concurrently() {
    let (_stack, client) = start(StackOptions::new().workers(0)).await;
    let submits = (0..10).map(|_| {
        let client = client.clone();
        async move { client.submit("same-key", "export", steps(1)).await }
    });
    let replies = futures::future::join_all(submits).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{replies:?}");
    assert!(replies.iter().all(|r| r.status.is_success()));
    let first_id = &replies[0].body["id"];
    assert!(replies.iter().all(|r| &r.body["id"] == first_id));
    assert_eq!(client.runs_by_key("same-key").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gets_503s_and_loses_nothing() {
    let (_stack, client) = start(StackOptions::new().step_ms(20)).await;
    let before = submit_many(&client, "outage", 6, steps(10)).await;
    let outage = client
        .ops(
            Method::POST,
            "/api/v1/ops/chaos/db-outage?seconds=2",
            OPS_KEY,
        )
        .await;
    assert_eq!(outage.status, StatusCode::OK, "{:?}", outage.body);

    let refused = client.submit("outage-during", "simulate", steps(1)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        refused.body
    );
    assert!(refused.body["detail"].is_string());
    let read = client.get(&format!("/api/v1/runs/{}", before[0])).await;
    assert_eq!(read.status, StatusCode::SERVICE_UNAVAILABLE);
    let ready = client.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["status"], "unready");
    let queue = client.ops(Method::GET, "/api/v1/ops/queue", OPS_KEY).await;
    assert_eq!(queue.status, StatusCode::SERVICE_UNAVAILABLE);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.get("/health/ready").await.status != StatusCode::OK {
        assert!(
            std::time::Instant::now() < deadline,
            "still unready after the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = client.wait_terminal(&before, Duration::from_secs(60)).await;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["result_count"], 1, "{run}");
    }
    let after = client.submit("outage-after", "simulate", steps(1)).await;
    assert_eq!(after.status, StatusCode::CREATED);
    assert!(client.runs_by_key("outage-during").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_exit_chaos_endpoint_stops_a_real_worker() {
    let (mut stack, client) = start(StackOptions::new().lease_ms(400)).await;
    let wrong = client
        .ops(Method::POST, "/api/v1/ops/chaos/worker-exit", "wrong-key")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, json!({"detail": "Invalid ops API key"}));

    let status = client
        .ops(Method::GET, "/api/v1/ops/worker-status", OPS_KEY)
        .await;
    assert_eq!(
        status.body["workers"].as_array().map(Vec::len),
        Some(2),
        "{:?}",
        status.body
    );
    let exit = client
        .ops(Method::POST, "/api/v1/ops/chaos/worker-exit", OPS_KEY)
        .await;
    assert_eq!(exit.status, StatusCode::ACCEPTED, "{:?}", exit.body);
    let pid = exit.body["worker"]["pid"].as_u64().expect("worker pid") as u32;
    assert!(stack.info.workers.iter().any(|w| w.pid == pid));
    wait_for(
        "the worker to exit",
        Duration::from_secs(15),
        Duration::from_millis(50),
        || {
            let status = stack.command_ok("status");
            let workers = status["workers"].as_array().cloned().unwrap_or_default();
            workers
                .iter()
                .any(|w| w["pid"] == pid && w["alive"] == false)
                .then_some(())
        },
    );
    let status = client
        .ops(Method::GET, "/api/v1/ops/worker-status", OPS_KEY)
        .await;
    let live: Vec<u64> = status.body["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["pid"].as_u64())
        .collect();
    assert!(!live.contains(&u64::from(pid)), "{live:?}");
    assert_eq!(live.len(), 1);
}
