//! Liveness (`/health`, with the boot id) and readiness (`/health/ready`, per dependency).

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use crate::clock::now_ms_i64;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`.
pub async fn live(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "environment": "local",
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "boot_id": state.boot_id,
    }))
}

#[derive(Debug, Serialize)]
struct Dependency {
    name: &'static str,
    status: &'static str,
    latency_ms: f64,
    detail: serde_json::Value,
}

async fn probe<F, T, E>(name: &'static str, check: F) -> (Dependency, Option<T>)
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, check).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let (status, detail, value) = match outcome {
        Ok(Ok(value)) => ("ok", serde_json::Value::Null, Some(value)),
        Ok(Err(err)) => ("error", serde_json::json!(err.to_string()), None),
        Err(_) => ("error", serde_json::json!("timed out"), None),
    };
    let dependency = Dependency {
        name,
        status,
        latency_ms,
        detail,
    };
    (dependency, value)
}

/// The window in which a worker's heartbeat counts as live.
pub fn live_window(state: &AppState) -> Duration {
    state.settings.lease + Duration::from_secs(1)
}

/// `GET /health/ready`: 200 when the database, the artifact store and at least one worker are
/// healthy, 503 otherwise.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let (database, _) = probe("database", state.store.ping()).await;
    let (artifact_store, _) = probe("artifact_store", state.artifacts.probe()).await;
    let since = now_ms_i64() - live_window(&state).as_millis() as i64;
    let (mut workers, live) = probe("workers", state.store.live_workers(since)).await;
    match live {
        Some(live) if live.is_empty() => {
            workers.status = "error";
            workers.detail = serde_json::json!("no live worker");
        }
        Some(live) => workers.detail = serde_json::json!({ "live": live.len() }),
        None => {}
    }
    let dependencies = [database, artifact_store, workers];
    let ready = dependencies.iter().all(|d| d.status == "ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if ready { "ready" } else { "unready" },
            "dependencies": dependencies,
        })),
    )
}
