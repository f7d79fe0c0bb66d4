//! `timeout`: a blackhole. Connections are still accepted, but nothing gets through; with a
//! `timeout`, the connection is closed that long after the toxic reached it.
//!
//! Held bytes are kept, not dropped, and flow again when the toxic is removed, as after a real
//! network partition that heals before TCP gives up: the stream stays consistent, so a client
//! that survives the stall can carry on. The hold is bounded by the pipeline's buffer, after which
//! the sender meets TCP backpressure, as it would on a real network.

use std::time::Duration;

use super::ToxicError;

/// Parameters of the `timeout` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// Close the connection this long after the toxic reached it; `None` holds the traffic until
    /// the toxic is removed or expires.
    pub timeout: Option<Duration>,
}

impl Timeout {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), ToxicError> {
        Ok(())
    }
}
