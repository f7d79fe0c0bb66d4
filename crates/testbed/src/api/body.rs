//! Request bodies: bounded, JSON, and every rejection answered as a JSON error.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;

use super::ApiError;

/// The body as a JSON object: 413 over the size cap, 400 when it is not JSON or not an object.
pub fn json_object(raw: Result<Bytes, BytesRejection>) -> Result<serde_json::Value, ApiError> {
    let bytes =
        raw.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::bad_request("the JSON body must be an object"))
    }
}
