//! `reset_peer`: ends the selected connections with a real TCP reset (RST, through
//! `SO_LINGER = 0`), so the peer's next read or write fails with `ECONNRESET`.
//!
//! The direction says who receives the RST: `downstream` the client, `upstream` the server, `both`
//! both. The other side, if any, sees an ordinary close.

use std::time::Duration;

use super::ToxicError;

/// Parameters of the `reset_peer` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetPeer {
    /// How long after the toxic reached a connection it is reset; zero resets at once.
    pub timeout: Duration,
}

impl ResetPeer {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), ToxicError> {
        Ok(())
    }
}
