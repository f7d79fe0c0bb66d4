//! `latency`: every chunk is held for a fixed delay, plus or minus a seeded jitter, counted from
//! the moment the chunk arrived at the proxy.
//!
//! The delay is measured per chunk from its arrival, not from when the previous chunk left, and
//! the pipeline keeps reading while chunks wait: a stream through a 300 ms latency toxic arrives
//! 300 ms late, at the same throughput.

use std::time::Duration;

use rand::Rng;

use super::ToxicError;

/// Parameters of the `latency` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Delay added to every chunk.
    pub latency: Duration,
    /// Each chunk's delay is drawn uniformly from `latency ± jitter` (seeded).
    pub jitter: Duration,
}

impl Latency {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), ToxicError> {
        if self.jitter > self.latency {
            return Err(ToxicError::new(
                "jitter",
                format!(
                    "jitter {:?} is larger than latency {:?}; a delay cannot be negative",
                    self.jitter, self.latency
                ),
            ));
        }
        Ok(())
    }

    /// A signed jitter offset in nanoseconds, uniform in `[-jitter, +jitter]`.
    pub(crate) fn sample_jitter(&self, rng: &mut impl Rng) -> i64 {
        let bound = i64::try_from(self.jitter.as_nanos()).unwrap_or(i64::MAX);
        if bound == 0 {
            0
        } else {
            rng.gen_range(-bound..=bound)
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn jitter_stays_within_its_bound_and_is_seeded() {
        let toxic = Latency {
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(10),
        };
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..100)
                .map(|_| toxic.sample_jitter(&mut rng))
                .collect::<Vec<_>>()
        };
        let first = draw(7);
        assert_eq!(first, draw(7));
        assert_ne!(first, draw(8));
        assert!(first.iter().all(|j| j.abs() <= 10_000_000));
        assert!(first.iter().any(|j| *j < 0) && first.iter().any(|j| *j > 0));
    }

    #[test]
    fn jitter_larger_than_latency_is_rejected() {
        let toxic = Latency {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(20),
        };
        assert_eq!(toxic.validate().unwrap_err().parameter, "jitter");
    }
}
