//! The canary's default upstream, `POST /api/v1/canary/upstream`: a stand-in for an LLM
//! provider that the API calls over real HTTP. It needs no token (it plays a third party, which
//! the testbed's access tokens do not cover), and answers every call with a fresh request id.
//!
//! Request: an optional JSON object `{"prompt": "...", "model": "..."}`. Answer (200):
//!
//! ```json
//! { "request_id": "req-<32 hex>", "model": "testbed-llm-1", "output": "ack: ...",
//!   "usage": { "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7 },
//!   "cost_usd": 0.0000075 }
//! ```
//!
//! Tokens are whitespace-separated words (at least one each way); the cost is
//! [`PROMPT_USD_PER_TOKEN`] and [`COMPLETION_USD_PER_TOKEN`] times them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;

use super::{ApiError, body};

/// The model named when the request names none.
pub const DEFAULT_MODEL: &str = "testbed-llm-1";
/// The prompt used when the request has none.
pub const DEFAULT_PROMPT: &str = "canary ping";
/// The price of one prompt token, in US dollars.
pub const PROMPT_USD_PER_TOKEN: f64 = 0.000_000_5;
/// The price of one completion token, in US dollars.
pub const COMPLETION_USD_PER_TOKEN: f64 = 0.000_001_5;
/// The longest prompt echoed back in the output, in characters.
const ECHO_CHARS: usize = 64;

/// The prompt and model of a canary or upstream request body (empty body: the defaults).
pub fn prompt_and_model(
    raw: Result<Bytes, BytesRejection>,
) -> Result<(String, Option<String>), ApiError> {
    if raw.as_ref().is_ok_and(|bytes| bytes.is_empty()) {
        return Ok((DEFAULT_PROMPT.to_owned(), None));
    }
    let value = body::json_object(raw)?;
    let prompt = match value.get("prompt") {
        None | Some(serde_json::Value::Null) => DEFAULT_PROMPT.to_owned(),
        Some(serde_json::Value::String(prompt)) => prompt.clone(),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "prompt must be a string, got {other}"
            )));
        }
    };
    let model = match value.get("model") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(model)) if !model.is_empty() => Some(model.clone()),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "model must be a non-empty string, got {other}"
            )));
        }
    };
    Ok((prompt, model))
}

fn tokens(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The provider's answer to `prompt`.
pub fn complete(prompt: &str, model: Option<&str>) -> serde_json::Value {
    let echo: String = prompt.chars().take(ECHO_CHARS).collect();
    let output = format!("ack: {echo}");
    let prompt_tokens = tokens(prompt);
    let completion_tokens = tokens(&output);
    let cost_usd = prompt_tokens as f64 * PROMPT_USD_PER_TOKEN
        + completion_tokens as f64 * COMPLETION_USD_PER_TOKEN;
    serde_json::json!({
        "request_id": format!("req-{}", uuid::Uuid::new_v4().simple()),
        "model": model.unwrap_or(DEFAULT_MODEL),
        "output": output,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "cost_usd": cost_usd,
    })
}

/// `POST /api/v1/canary/upstream`.
pub async fn answer(
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (prompt, model) = prompt_and_model(raw)?;
    Ok(Json(complete(&prompt, model.as_deref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_has_a_fresh_id_and_counted_tokens() {
        let a = complete("one two three", None);
        let b = complete("one two three", Some("m"));
        assert_ne!(a["request_id"], b["request_id"]);
        assert_eq!(a["model"], DEFAULT_MODEL);
        assert_eq!(b["model"], "m");
        assert_eq!(a["usage"]["prompt_tokens"], 3);
        assert_eq!(a["usage"]["completion_tokens"], 4);
        assert_eq!(a["usage"]["total_tokens"], 7);
        let cost = a["cost_usd"].as_f64().unwrap();
        assert!((cost - 7.5e-6).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn bodies_are_validated() {
        let ok = prompt_and_model(Ok(Bytes::from_static(b"{\"prompt\": \"hi\"}"))).unwrap();
        assert_eq!(ok, ("hi".to_owned(), None));
        let empty = prompt_and_model(Ok(Bytes::new())).unwrap();
        assert_eq!(empty.0, DEFAULT_PROMPT);
        let bad = prompt_and_model(Ok(Bytes::from_static(b"{\"prompt\": 1}"))).unwrap_err();
        assert_eq!(bad.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
}
