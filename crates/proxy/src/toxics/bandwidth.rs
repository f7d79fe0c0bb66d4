//! `bandwidth`: caps the throughput of a direction at a fixed number of bytes per second.
//!
//! A pacer releases at most a twentieth of a second's worth of bytes per write and then waits for
//! their time to pass, so the cap holds over any window longer than about 50 ms. When bytes were
//! waiting for the pacer and the write still came late (timer granularity, a busy thread), the
//! schedule is kept and the lateness caught up (up to [`MAX_CATCH_UP`]), so the average rate is
//! the cap and not less. When the flow was idle, nothing is banked: a burst after a pause is
//! paced like any other.

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

/// The most lateness a backlogged flow catches up: beyond it, the schedule restarts from now.
pub(crate) const MAX_CATCH_UP: Duration = Duration::from_millis(250);

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

    /// Account for `bytes` written at `now`. `backlogged`: they were ready before the pacer
    /// allowed them (the pacer, not the data, decided when they went).
    pub(crate) fn wrote(
        &mut self,
        toxic: &Bandwidth,
        bytes: usize,
        now: Instant,
        backlogged: bool,
    ) {
        let floor = if backlogged {
            now.checked_sub(MAX_CATCH_UP).unwrap_or(now)
        } else {
            now
        };
        self.next = self.next.max(floor) + toxic.cost(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_catches_up_when_backlogged_and_banks_nothing_when_idle() {
        let toxic = Bandwidth { rate: 1000 };
        assert_eq!(toxic.max_piece(), 50);
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        pacer.wrote(&toxic, 50, start, false);
        assert_eq!(pacer.ready_at(), start + ms(50));
        // Backlogged, and written 40 ms late: the schedule does not drift.
        pacer.wrote(&toxic, 50, start + ms(90), true);
        assert_eq!(pacer.ready_at(), start + ms(100));
        // Backlogged but a second late: at most MAX_CATCH_UP is caught up.
        let late = start + ms(1100);
        pacer.wrote(&toxic, 50, late, true);
        assert_eq!(pacer.ready_at(), late - MAX_CATCH_UP + ms(50));
        // Idle for ten seconds: nothing banked.
        let later = start + Duration::from_secs(10);
        pacer.wrote(&toxic, 100, later, false);
        assert_eq!(pacer.ready_at(), later + ms(100));
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
