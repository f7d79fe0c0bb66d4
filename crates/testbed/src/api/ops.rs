//! The ops endpoints, behind `X-API-Key`: queue depth, worker status, and the chaos switches
//! (one worker exits; the database goes away for N seconds).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::health::live_window;
use super::{ApiError, AppState};
use crate::clock::{now_ms_i64, rfc3339_ms};
use crate::defects::Defect;
use crate::store::WorkerRecord;

/// The longest outage the chaos endpoint accepts, in seconds.
pub const MAX_OUTAGE_SECONDS: u64 = 600;

fn check_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let configured = &state.settings.secrets.ops_key;
    // `ops-key-mismatch`: the endpoints expect a key nobody was given.
    let expected = if state.has(Defect::OpsKeyMismatch) {
        format!("{configured}-rotated")
    } else {
        configured.clone()
    };
    let given = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("Invalid ops API key"))
    }
}

fn worker_json(worker: &WorkerRecord) -> serde_json::Value {
    serde_json::json!({
        "boot_id": worker.boot_id,
        "pid": worker.pid,
        "started_at": rfc3339_ms(worker.started_at),
        "last_heartbeat": rfc3339_ms(worker.last_heartbeat),
    })
}

/// `GET /api/v1/ops/queue`.
pub async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_key(&state, &headers)?;
    let counts = state.store.queue_counts().await?;
    let pending = match &state.pending {
        Some(pending) => pending.len().await as i64,
        None => 0,
    };
    let queued = counts.queued + pending;
    Ok(Json(serde_json::json!({
        "depth": queued + counts.running,
        "queued": queued,
        "running": counts.running,
    })))
}

/// `GET /api/v1/ops/worker-status`: the live workers.
pub async fn worker_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_key(&state, &headers)?;
    let since = now_ms_i64() - live_window(&state).as_millis() as i64;
    let workers = state.store.live_workers(since).await?;
    let workers: Vec<_> = workers.iter().map(worker_json).collect();
    Ok(Json(serde_json::json!({ "workers": workers })))
}

/// `POST /api/v1/ops/chaos/worker-exit`: the most recently started live worker exits at its next
/// heartbeat.
pub async fn worker_exit(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    check_key(&state, &headers)?;
    let since = now_ms_i64() - live_window(&state).as_millis() as i64;
    match state.store.request_worker_exit(since).await? {
        Some(worker) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "requested": true, "worker": worker_json(&worker) })),
        )),
        None => Err(ApiError::new(StatusCode::CONFLICT, "no live worker")),
    }
}

/// The query of the outage endpoint.
#[derive(Debug, Deserialize)]
pub struct OutageQuery {
    seconds: Option<u64>,
}

/// `POST /api/v1/ops/chaos/db-outage?seconds=N`: every database call of the API and the workers
/// fails for N seconds.
pub async fn db_outage(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<OutageQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_key(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let seconds = match query.seconds {
        Some(s) if (1..=MAX_OUTAGE_SECONDS).contains(&s) => s,
        other => {
            return Err(ApiError::bad_request(format!(
                "seconds must be between 1 and {MAX_OUTAGE_SECONDS}, got {other:?}"
            )));
        }
    };
    let until = state
        .outage
        .begin(Duration::from_secs(seconds))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(serde_json::json!({
        "outage_seconds": seconds,
        "until": rfc3339_ms(i64::try_from(until).unwrap_or(i64::MAX)),
    })))
}
