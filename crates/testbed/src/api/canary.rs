//! The canary, `POST /api/v1/canary`: one call through the API to an external dependency (an
//! LLM-like provider, by default the API's own [`super::llm_upstream`] route), over real HTTP with
//! a timeout, answered with the call's provenance so that a checker can record it.
//!
//! The `canary-reused-id` defect caches the first provenance id and returns it for every later
//! call (the "cached provenance" bug), so ids that must be unique repeat.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::auth::Authenticated;
use super::llm_upstream::prompt_and_model;
use super::{ApiError, AppState};
use crate::config::{CanarySettings, redact_url_password};
use crate::defects::Defect;

/// The path of the default upstream.
pub const UPSTREAM_PATH: &str = "/api/v1/canary/upstream";
/// The largest upstream answer read; a larger one is an upstream failure.
pub const MAX_UPSTREAM_BODY: usize = 64 * 1024;

/// The canary's HTTP client and where it calls.
#[derive(Debug)]
pub struct Canary {
    client: reqwest::Client,
    upstream: String,
    timeout: Duration,
    first_request_id: OnceLock<String>,
}

/// Why the canary's upstream call failed: always a 502 naming the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("canary upstream {upstream} failed: {reason}")]
pub struct UpstreamError {
    /// The upstream URL (password redacted).
    pub upstream: String,
    /// What went wrong.
    pub reason: String,
}

impl IntoResponse for UpstreamError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "detail": self.to_string(),
            "upstream": self.upstream,
        });
        (StatusCode::BAD_GATEWAY, Json(body)).into_response()
    }
}

/// A canary call that was refused (a bad request) or whose upstream failed.
#[derive(Debug)]
pub enum CanaryError {
    /// The request itself was wrong.
    Api(ApiError),
    /// The upstream failed.
    Upstream(UpstreamError),
}

impl From<ApiError> for CanaryError {
    fn from(err: ApiError) -> CanaryError {
        CanaryError::Api(err)
    }
}

impl IntoResponse for CanaryError {
    fn into_response(self) -> Response {
        match self {
            CanaryError::Api(err) => err.into_response(),
            CanaryError::Upstream(err) => err.into_response(),
        }
    }
}

impl Canary {
    /// A canary calling `settings.upstream`, or this API's own upstream route at `own_addr`.
    pub fn new(
        settings: &CanarySettings,
        own_addr: std::net::SocketAddr,
    ) -> Result<Canary, reqwest::Error> {
        let upstream = settings
            .upstream
            .clone()
            .unwrap_or_else(|| format!("http://{own_addr}{UPSTREAM_PATH}"));
        // No proxy: the upstream is reached directly, as configured (loopback by default).
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .build()?;
        Ok(Canary {
            client,
            upstream,
            timeout: settings.timeout,
            first_request_id: OnceLock::new(),
        })
    }

    /// The upstream URL.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    fn failure(&self, reason: impl Into<String>) -> UpstreamError {
        UpstreamError {
            upstream: redact_url_password(&self.upstream),
            reason: reason.into(),
        }
    }

    /// One upstream call: its JSON answer, or why it failed.
    async fn call_upstream(
        &self,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, UpstreamError> {
        let response = self
            .client
            .post(&self.upstream)
            .json(request)
            .send()
            .await
            .map_err(|e| self.failure(describe(&e, self.timeout)))?;
        let status = response.status();
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| self.failure(describe(&e, self.timeout)))?;
            if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
                return Err(self.failure(format!(
                    "the answer is larger than {MAX_UPSTREAM_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let excerpt: String = text.chars().take(200).collect();
            return Err(self.failure(format!("HTTP {status}: {excerpt}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| self.failure(format!("the answer is not JSON: {e}")))
    }
}

fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if err.is_connect() {
        format!("cannot connect: {err}")
    } else {
        err.to_string()
    }
}

/// The provenance fields of an upstream answer, checked.
fn provenance(answer: &serde_json::Value) -> Result<(String, String, [u64; 3], f64), String> {
    let text = |name: &str| {
        answer
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("the answer has no {name} string"))
    };
    let usage = |name: &str| {
        answer
            .get("usage")
            .and_then(|u| u.get(name))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("the answer has no usage.{name} count"))
    };
    let request_id = text("request_id")?;
    let model = text("model")?;
    let prompt = usage("prompt_tokens")?;
    let completion = usage("completion_tokens")?;
    let total = match usage("total_tokens") {
        Ok(total) => total,
        Err(_) => prompt.saturating_add(completion),
    };
    let cost = answer
        .get("cost_usd")
        .and_then(serde_json::Value::as_f64)
        .filter(|c| c.is_finite() && *c >= 0.0)
        .ok_or_else(|| "the answer has no non-negative cost_usd number".to_owned())?;
    Ok((request_id, model, [prompt, completion, total], cost))
}

/// `POST /api/v1/canary` (bearer token required, like the run routes).
///
/// Body: an optional JSON object `{"prompt": "...", "model": "..."}`. The API sends it to the
/// configured upstream (`--canary-upstream`, default its own `POST /api/v1/canary/upstream`)
/// with a timeout (`--canary-timeout-ms`, default 5000), and answers 200 with:
///
/// ```json
/// { "request_id": "req-...", "model": "testbed-llm-1",
///   "tokens": { "prompt": 2, "completion": 4, "total": 6 },
///   "cost_usd": 0.000007, "upstream_ms": 3.1,
///   "upstream": "http://127.0.0.1:PORT/api/v1/canary/upstream", "output": "ack: ..." }
/// ```
///
/// An upstream that cannot be reached, times out, answers non-2xx, or answers without the
/// provenance fields gives 502 `{"detail": "canary upstream URL failed: ...", "upstream": URL}`.
/// A malformed body gives 400 or 422, a missing or bad token 401, as elsewhere.
pub async fn call(
    State(state): State<AppState>,
    _auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, CanaryError> {
    let (prompt, model) = prompt_and_model(raw)?;
    let canary = &state.canary;
    let mut request = serde_json::json!({ "prompt": prompt });
    if let Some(model) = model {
        request["model"] = serde_json::json!(model);
    }
    let started = Instant::now();
    let answer = canary
        .call_upstream(&request)
        .await
        .map_err(CanaryError::Upstream)?;
    let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (mut request_id, model, [prompt_tokens, completion_tokens, total], cost_usd) =
        provenance(&answer).map_err(|reason| CanaryError::Upstream(canary.failure(reason)))?;
    if state.has(Defect::CanaryReusedId) {
        request_id = canary.first_request_id.get_or_init(|| request_id).clone();
    }
    Ok(Json(serde_json::json!({
        "request_id": request_id,
        "model": model,
        "tokens": {
            "prompt": prompt_tokens,
            "completion": completion_tokens,
            "total": total,
        },
        "cost_usd": cost_usd,
        "upstream_ms": upstream_ms,
        "upstream": redact_url_password(canary.upstream()),
        "output": answer.get("output").cloned().unwrap_or(serde_json::Value::Null),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_needs_every_field() {
        let full = serde_json::json!({
            "request_id": "r", "model": "m",
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            "cost_usd": 0.5,
        });
        assert_eq!(
            provenance(&full),
            Ok(("r".into(), "m".into(), [1, 2, 3], 0.5))
        );
        for missing in ["request_id", "model", "usage", "cost_usd"] {
            let mut partial = full.clone();
            partial.as_object_mut().unwrap().remove(missing);
            let err = provenance(&partial).unwrap_err();
            assert!(err.contains(missing), "{missing}: {err}");
        }
    }
}
