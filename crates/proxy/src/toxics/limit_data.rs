//! `limit_data`: lets a fixed number of bytes through a direction, counted from when the toxic
//! reached the connection, then closes the connection: a peer that dies mid-message.

use super::ToxicError;

/// Parameters of the `limit_data` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitData {
    /// Bytes let through before the connection is closed.
    pub bytes: u64,
}

impl LimitData {
    /// Check the parameters. Zero is allowed: the connection closes at its next byte.
    pub fn validate(&self) -> Result<(), ToxicError> {
        Ok(())
    }
}
