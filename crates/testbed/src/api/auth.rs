//! Login, and the extractor that requires a valid bearer token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::Deserialize;

use super::{ApiError, AppState, body};
use crate::auth::{Claims, TOKEN_TTL_SECONDS, issue, verify};

#[derive(Debug, Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /api/v1/auth/login`: a JWT for the right password.
pub async fn login(
    State(state): State<AppState>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let value = body::json_object(raw)?;
    let login: Login = serde_json::from_value(value).map_err(|e| {
        ApiError::unprocessable(format!("expected {{\"username\", \"password\"}}: {e}"))
    })?;
    if login.username.is_empty() || login.password != state.settings.secrets.password {
        return Err(ApiError::unauthorized("invalid username or password"));
    }
    let token = issue(&state.settings.secrets.jwt_secret, &login.username)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(serde_json::json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": TOKEN_TTL_SECONDS,
    })))
}

/// A request that carried a valid `Authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct Authenticated(
    /// The token's claims.
    pub Claims,
);

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Verify `token` against the configured secret.
pub fn check(state: &AppState, token: Option<&str>) -> Result<Authenticated, ApiError> {
    let token = token.ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
    verify(&state.settings.secrets.jwt_secret, token)
        .map(Authenticated)
        .map_err(|_| ApiError::unauthorized("invalid bearer token"))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Authenticated, ApiError> {
        check(state, bearer(&parts.headers))
    }
}
