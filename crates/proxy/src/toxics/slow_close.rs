//! `slow_close`: delays the close (the FIN) of a direction after its last byte, like a peer that
//! lingers before hanging up.

use std::time::Duration;

use super::ToxicError;

/// Parameters of the `slow_close` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowClose {
    /// How long the close is held back.
    pub delay: Duration,
}

impl SlowClose {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), ToxicError> {
        if self.delay.is_zero() {
            return Err(ToxicError::new("delay", "delay must be greater than 0"));
        }
        Ok(())
    }
}
