//! Access tokens: HS256 JWTs issued by login and required on every `/api/v1` route except login,
//! ops, and the canary's stand-in provider (`/api/v1/canary/upstream`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;

/// How long an access token is valid, in seconds.
pub const TOKEN_TTL_SECONDS: u64 = 3600;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user name.
    pub sub: String,
    /// Issued at, epoch seconds.
    pub iat: u64,
    /// Expiry, epoch seconds.
    pub exp: u64,
}

/// Why a token was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, expired or signed with another secret.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// Issue a token for `user`.
pub fn issue(secret: &str, user: &str) -> Result<String, AuthError> {
    let now = now_ms() / 1000;
    let claims = Claims {
        sub: user.to_owned(),
        iat: now,
        exp: now + TOKEN_TTL_SECONDS,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// Verify a token and return its claims.
pub fn verify(secret: &str, token: &str) -> Result<Claims, AuthError> {
    let validation = Validation::new(Algorithm::HS256);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )?;
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_secret() {
        let token = issue("s1", "alice").unwrap();
        assert_eq!(verify("s1", &token).unwrap().sub, "alice");
        assert!(verify("s2", &token).is_err());
        assert!(verify("s1", "not-a-token").is_err());
    }
}
