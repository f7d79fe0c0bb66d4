//! The open model's send schedule: when each iteration is meant to start, as offsets from the
//! start of the test, fixed by the executor and the seed before anything is sent.
//!
//! The rate is piecewise linear (a constant rate is one flat stage), so its integral Λ(t) is
//! piecewise quadratic. Send `i` is due when Λ(t) reaches a target: `i` itself for the uniform
//! schedule, or the `i`-th arrival of a unit-rate Poisson process (a sum of seeded exponential
//! gaps) for the Poisson schedule; inverting Λ turns the target into a time. The schedule is an
//! iterator, so memory does not grow with the number of sends.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use shakedown_plan::model::{ArrivalRate, Schedule};

/// One stage with its place on the time axis and in Λ.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Offset of the stage's start from the start of the test, seconds.
    start: f64,
    /// Its length, seconds.
    length: f64,
    /// Rate at its start and end, per second.
    from: f64,
    to: f64,
    /// Λ at its start.
    before: f64,
    /// Λ over the whole stage.
    area: f64,
}

impl Segment {
    /// The offset within the stage at which Λ has grown by `x` (0 <= x <= area).
    fn invert(&self, x: f64) -> f64 {
        // r0 τ + a τ² = x with a = (r1 - r0) / (2 L); the form 2x / (r0 + sqrt(r0² + 4ax)) is
        // exact for a = 0 and stable for a ramp up or down.
        let a = (self.to - self.from) / (2.0 * self.length);
        let disc = (self.from * self.from + 4.0 * a * x).max(0.0);
        let denom = self.from + disc.sqrt();
        if denom <= 0.0 {
            return 0.0;
        }
        (2.0 * x / denom).clamp(0.0, self.length)
    }
}

/// The schedule of one open-model test: an iterator of intended start offsets.
#[derive(Debug, Clone)]
pub struct SendSchedule {
    segments: Vec<Segment>,
    /// Index of the segment the next target falls in.
    current: usize,
    /// Λ of the next send.
    next: f64,
    /// Sends produced so far.
    produced: u64,
    kind: Schedule,
    rng: ChaCha8Rng,
}

impl SendSchedule {
    /// The schedule of `rate`, seeded by `seed` (only the Poisson schedule draws from it).
    pub fn new(rate: &ArrivalRate, seed: u64) -> SendSchedule {
        let mut segments = Vec::with_capacity(rate.stages.len());
        let (mut start, mut before, mut from) = (0.0, 0.0, rate.start_rate);
        for stage in &rate.stages {
            let length = stage.duration.as_secs_f64();
            let area = (from + stage.rate) / 2.0 * length;
            if length > 0.0 {
                segments.push(Segment {
                    start,
                    length,
                    from,
                    to: stage.rate,
                    before,
                    area,
                });
            }
            start += length;
            before += area;
            from = stage.rate;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let next = match rate.schedule {
            Schedule::Uniform => 0.0,
            Schedule::Poisson => exponential(&mut rng),
        };
        SendSchedule {
            segments,
            current: 0,
            next,
            produced: 0,
            kind: rate.schedule,
            rng,
        }
    }

    /// Sends produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }
}

/// A unit-mean exponential gap, from a uniform draw in (0, 1].
fn exponential(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = 1.0 - rng.r#gen::<f64>();
    -u.ln()
}

impl Iterator for SendSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        loop {
            let seg = self.segments.get(self.current)?;
            let x = self.next - seg.before;
            // The end of a stage belongs to the next one, except for the last stage, which
            // ends the schedule.
            if x >= seg.area {
                self.current += 1;
                continue;
            }
            let offset = seg.start + seg.invert(x);
            self.produced += 1;
            self.next += match self.kind {
                Schedule::Uniform => 1.0,
                Schedule::Poisson => exponential(&mut self.rng),
            };
            return Some(Duration::from_secs_f64(offset));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_plan::model::RateStage;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_uniform_constant_rate_is_evenly_spaced() {
        let rate = ArrivalRate::constant(1000.0, secs(10), Schedule::Uniform, 1);
        let all: Vec<Duration> = SendSchedule::new(&rate, 1).collect();
        assert_eq!(all.len(), 10_000);
        assert_eq!(all[0], Duration::ZERO);
        let gap = all[5001] - all[5000];
        assert!((gap.as_secs_f64() - 0.001).abs() < 1e-9, "{gap:?}");
        assert!(*all.last().unwrap() < secs(10));
    }

    #[test]
    fn a_ramp_sends_its_integral_and_more_at_the_top() {
        let rate = ArrivalRate {
            start_rate: 0.0,
            stages: vec![
                RateStage {
                    rate: 200.0,
                    duration: secs(10),
                },
                RateStage {
                    rate: 200.0,
                    duration: secs(5),
                },
            ],
            schedule: Schedule::Uniform,
            max_in_flight: 1,
            ramping: true,
        };
        let all: Vec<Duration> = SendSchedule::new(&rate, 1).collect();
        assert_eq!(all.len() as u64, rate.planned_sends());
        assert_eq!(all.len(), 2_000);
        let in_first = all.iter().filter(|d| **d < secs(5)).count();
        let in_second = all
            .iter()
            .filter(|d| **d >= secs(5) && **d < secs(10))
            .count();
        // Λ(5) = 250 and Λ(10) - Λ(5) = 750.
        assert!((249..=251).contains(&in_first), "{in_first}");
        assert!((749..=751).contains(&in_second), "{in_second}");
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "in time order");
    }

    #[test]
    fn poisson_is_seeded_and_has_the_right_mean() {
        let rate = ArrivalRate::constant(500.0, secs(20), Schedule::Poisson, 1);
        let a: Vec<Duration> = SendSchedule::new(&rate, 7).collect();
        let b: Vec<Duration> = SendSchedule::new(&rate, 7).collect();
        let c: Vec<Duration> = SendSchedule::new(&rate, 8).collect();
        assert_eq!(a, b, "the same seed gives the same schedule");
        assert_ne!(a, c);
        // 10,000 expected; the standard deviation is 100.
        assert!((9_600..=10_400).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_ramp_down_to_zero_ends() {
        let rate = ArrivalRate {
            start_rate: 100.0,
            stages: vec![RateStage {
                rate: 0.0,
                duration: secs(4),
            }],
            schedule: Schedule::Uniform,
            max_in_flight: 1,
            ramping: true,
        };
        let all: Vec<Duration> = SendSchedule::new(&rate, 1).collect();
        assert_eq!(all.len(), 200);
        assert!(*all.last().unwrap() < secs(4));
    }
}
