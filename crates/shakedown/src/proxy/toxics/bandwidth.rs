//! `bandwidth`: caps the throughput of a direction at a fixed number of bytes per second.
//!
//! A pacer releases at most a twentieth of a second's worth of bytes per write and then waits for
//! their time to pass, so the cap holds over any window longer than about 50 ms. A write that
//! comes a little late (timer granularity, a busy thread) is caught up, so the average rate is the
//! cap and not less; but idle time banks at most one such piece of credit, so a burst after a
//! pause is paced like any other.

use std::time::Duration;

use tokio::time::Instant;

use super::ToxicError;

/// Parameters of the `bandwidth` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    /// The cap, in bytes per second.
    pub rate: u64,
}

impl Bandwidth {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), ToxicError> {
        if self.rate == 0 {
            return Err(ToxicError::new(
                "rate",
                "rate must be at least 1 byte per second (to stop traffic, use `timeout`)",
            ));
        }
        Ok(())
    }

    /// The largest write the pacer lets through at once: 50 ms worth of bytes.
    pub(crate) fn max_piece(&self) -> usize {
        usize::try_from((self.rate / 20).max(1)).unwrap_or(usize::MAX)
    }

    /// How long `bytes` take at this rate.
    pub(crate) fn cost(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.rate as f64)
    }
}

/// When the next write may go, given what was written before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacer {
    next: Instant,
}

impl Pacer {
    /// A pacer that allows a write now.
    pub(crate) fn new(now: Instant) -> Pacer {
        Pacer { next: now }
    }

    /// The earliest moment of the next write.
    pub(crate) fn ready_at(&self) -> Instant {
        self.next
    }

    /// Account for `bytes` written at `now`.
    pub(crate) fn wrote(&mut self, toxic: &Bandwidth, bytes: usize, now: Instant) {
        let credit = toxic.cost(toxic.max_piece());
        let earliest = now.checked_sub(credit).unwrap_or(now);
        self.next = self.next.max(earliest) + toxic.cost(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spaces_writes_by_their_cost_and_banks_little_credit() {
        let toxic = Bandwidth { rate: 1000 };
        assert_eq!(toxic.max_piece(), 50);
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        pacer.wrote(&toxic, 50, start);
        assert_eq!(pacer.ready_at(), start + Duration::from_millis(50));
        // A write 5 ms late is caught up: the schedule does not drift.
        pacer.wrote(&toxic, 50, start + Duration::from_millis(55));
        assert_eq!(pacer.ready_at(), start + Duration::from_millis(100));
        // A write long after the last one banks one piece of credit at most.
        let later = start + Duration::from_secs(10);
        pacer.wrote(&toxic, 100, later);
        assert_eq!(
            pacer.ready_at(),
            later - Duration::from_millis(50) + Duration::from_millis(100)
        );
    }

    #[test]
    fn a_zero_rate_is_rejected() {
        assert_eq!(
            Bandwidth { rate: 0 }.validate().unwrap_err().parameter,
            "rate"
        );
        assert_eq!(Bandwidth { rate: 5 }.max_piece(), 1);
    }
}
