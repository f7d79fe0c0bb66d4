//! `slicer`: cuts the stream into small slices with a pause between them, which exposes clients
//! that assume one read returns one whole message.

use std::time::Duration;

use rand::Rng;

use super::ToxicError;

/// Parameters of the `slicer` toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slicer {
    /// Average size of a slice, in bytes.
    pub average_size: usize,
    /// Each slice's size is drawn uniformly from `average_size ± size_variation` (seeded).
    pub size_variation: usize,
    /// Pause after each slice.
    pub delay: Duration,
}

impl Slicer {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), ToxicError> {
        if self.average_size == 0 {
            return Err(ToxicError::new(
                "average_size",
                "average_size must be at least 1 byte",
            ));
        }
        if self.size_variation >= self.average_size {
            return Err(ToxicError::new(
                "size_variation",
                format!(
                    "size_variation {} must be smaller than average_size {}",
                    self.size_variation, self.average_size
                ),
            ));
        }
        Ok(())
    }

    /// The size of the next slice.
    pub(crate) fn next_size(&self, rng: &mut impl Rng) -> usize {
        if self.size_variation == 0 {
            self.average_size
        } else {
            rng.gen_range(
                self.average_size - self.size_variation..=self.average_size + self.size_variation,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn slice_sizes_stay_within_the_variation() {
        let toxic = Slicer {
            average_size: 100,
            size_variation: 20,
            delay: Duration::ZERO,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let sizes: Vec<usize> = (0..200).map(|_| toxic.next_size(&mut rng)).collect();
        assert!(sizes.iter().all(|s| (80..=120).contains(s)));
        assert!(sizes.iter().any(|s| *s != 100));
    }

    #[test]
    fn bad_sizes_are_rejected() {
        let zero = Slicer {
            average_size: 0,
            size_variation: 0,
            delay: Duration::ZERO,
        };
        assert_eq!(zero.validate().unwrap_err().parameter, "average_size");
        let wide = Slicer {
            average_size: 10,
            size_variation: 10,
            delay: Duration::ZERO,
        };
        assert_eq!(wide.validate().unwrap_err().parameter, "size_variation");
    }
}
