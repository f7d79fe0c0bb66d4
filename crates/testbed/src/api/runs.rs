//! Runs: idempotent submission keyed by `Idempotency-Key`, and reads by id and by key (the
//! list by key is switched off with `--runs-api by-id`). The submission defects live in
//! [`super::ledger`], the defects of reads in [`super::reported`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::auth::Authenticated;
use super::{ApiContext, ApiError, AppState, body};
use crate::clock::now_ms_i64;
use crate::run::{RunKind, RunRecord, RunStatus, RunView};

/// The longest accepted idempotency key.
pub const MAX_KEY_LEN: usize = 256;

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))?
        .to_str()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_request(format!(
            "the Idempotency-Key header must hold 1 to {MAX_KEY_LEN} characters"
        )));
    }
    Ok(key.to_owned())
}

/// Validate a submission body into a kind and a params object.
fn submission(value: serde_json::Value) -> Result<(RunKind, serde_json::Value), ApiError> {
    let kind = match value.get("kind") {
        Some(serde_json::Value::String(kind)) => kind
            .parse::<RunKind>()
            .map_err(|e| ApiError::unprocessable(e.to_string()))?,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "kind must be a string, got {other}"
            )));
        }
        None => return Err(ApiError::unprocessable("kind is required")),
    };
    let params = match value.get("params") {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(params @ serde_json::Value::Object(_)) => params.clone(),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "params must be an object, got {other}"
            )));
        }
    };
    if let Some(steps) = params.get("steps") {
        if steps.as_u64().is_none_or(|s| s == 0) {
            return Err(ApiError::unprocessable(format!(
                "params.steps must be a positive integer, got {steps}"
            )));
        }
    }
    if let Some(fail) = params.get("fail") {
        if !fail.is_boolean() {
            return Err(ApiError::unprocessable(format!(
                "params.fail must be a boolean, got {fail}"
            )));
        }
    }
    Ok((kind, params))
}

/// `POST /api/v1/runs`: 201 with a new run, or 200 with the run already made for this key.
pub async fn create(
    State(state): State<AppState>,
    _auth: Authenticated,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let (kind, params) = submission(body::json_object(raw)?)?;
    let now = now_ms_i64();
    let run = RunRecord {
        id: uuid::Uuid::new_v4().to_string(),
        key,
        kind,
        params,
        status: RunStatus::Queued,
        attempts: 0,
        completed_by: None,
        result_count: 0,
        created_at: now,
        updated_at: now,
    };
    let (stored, created) = match &state.ledger {
        Some(ledger) => ledger.submit(&state, run).await?,
        None => insert(&state, run).await?,
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored.view(state.bucket()))))
}

/// Insert `run` unless its key is known, into the `lose-acked` buffer or the database. Returns the
/// run for the key and whether this call created it.
pub(super) async fn insert(
    state: &ApiContext,
    run: RunRecord,
) -> Result<(RunRecord, bool), ApiError> {
    Ok(match &state.pending {
        Some(pending) => pending.submit(&state.store, run).await?,
        None => state.store.insert_run(&run).await?,
    })
}

/// `GET /api/v1/runs/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    if let Some(pending) = &state.pending {
        if let Some(run) = pending.get(&id).await {
            return Ok(Json(state.reported.report(&run, state.bucket())));
        }
    }
    match state.store.get_run(&id).await? {
        Some(run) => Ok(Json(state.reported.report(&run, state.bucket()))),
        None => Err(ApiError::not_found(format!("run {id} not found"))),
    }
}

/// The query of the list endpoint.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    key: Option<String>,
}

/// The detail of the 404 that `GET /api/v1/runs?key=K` answers with `--runs-api by-id`.
pub const LIST_BY_KEY_OFF: &str =
    "listing runs by key is switched off on this API (--runs-api by-id); read runs by id";

/// `GET /api/v1/runs?key=K`: every run with that key (with `shared-id`, also the run the key is
/// an alias of). With `--runs-api by-id`: 404.
pub async fn list(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !state.settings.runs_api.lists_by_key() {
        return Err(ApiError::not_found(LIST_BY_KEY_OFF));
    }
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let key = query
        .key
        .ok_or_else(|| ApiError::bad_request("the query parameter key is required"))?;
    let mut runs = state.store.runs_by_key(&key).await?;
    if let Some(pending) = &state.pending {
        if let Some(run) = pending.by_key(&key).await {
            if runs.iter().all(|r| r.id != run.id) {
                runs.push(run);
            }
        }
    }
    if let Some(id) = state.ledger.as_ref().and_then(|l| l.alias(&key)) {
        if runs.iter().all(|r| r.id != id) {
            if let Some(run) = state.store.get_run(&id).await? {
                runs.push(run);
            } else if let Some(pending) = &state.pending {
                runs.extend(pending.get(&id).await);
            }
        }
    }
    let views: Vec<RunView> = runs
        .iter()
        .map(|r| state.reported.report(r, state.bucket()))
        .collect();
    Ok(Json(serde_json::json!({ "runs": views })))
}

/// Whether a run exists, in the database or in the `lose-acked` buffer.
pub async fn exists(state: &AppState, id: &str) -> Result<bool, ApiError> {
    if let Some(pending) = &state.pending {
        if pending.get(id).await.is_some() {
            return Ok(true);
        }
    }
    Ok(state.store.get_run(id).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_are_validated() {
        let ok = submission(serde_json::json!({"kind": "export", "params": {"steps": 2}}));
        assert_eq!(ok.unwrap().0, RunKind::Export);
        let status = |v| submission(v).unwrap_err().status;
        assert_eq!(
            status(serde_json::json!({"kind": "bake"})),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(serde_json::json!({})),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(serde_json::json!({"kind": "export", "params": [1]})),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(serde_json::json!({"kind": "export", "params": {"steps": -1}})),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
