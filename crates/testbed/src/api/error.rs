//! API errors: a status code and a JSON body `{"detail": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::artifacts::ArtifactError;
use crate::store::StoreError;

/// An error answered as `{"detail": "..."}` with a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The human-readable reason.
    pub detail: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 422.
    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "detail": self.detail })),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        if err.is_unavailable() {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
        } else {
            tracing::error!(error = %err, "database error");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(err: ArtifactError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
    }
}

/// The answer for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// The answer for a known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}
