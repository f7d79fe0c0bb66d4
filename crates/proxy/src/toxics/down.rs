//! `down`: the dependency is gone. The proxy closes its listener, so that new connections are
//! refused (`ECONNREFUSED`, at once, not after a hang), and closes every open connection. When the
//! toxic is removed or expires, the proxy listens again on the same address.
//!
//! `down` acts on the whole proxy: its direction is ignored and its toxicity must be 1.

use super::ToxicError;

/// The `down` toxic (it has no parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Down;

impl Down {
    /// Check the toxic's toxicity: a proxy cannot be partly down.
    pub fn validate(toxicity: f64) -> Result<(), ToxicError> {
        if toxicity < 1.0 {
            return Err(ToxicError::new(
                "toxicity",
                "`down` closes the listener for every client, so its toxicity must be 1 \
                 (to hit only some connections, use `reset_peer` or `timeout`)",
            ));
        }
        Ok(())
    }
}
