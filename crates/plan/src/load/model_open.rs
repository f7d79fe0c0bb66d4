//! The validated open model: arrival-rate executors, and the time windows a threshold can be
//! scoped to.
//!
//! An arrival-rate executor starts iterations on a schedule fixed in advance (seeded, uniform or
//! Poisson), whatever the target does, and measures each iteration's first request from its
//! scheduled start, so that a stall of the target shows in the latencies instead of slowing the
//! load down (coordinated omission).

use std::time::Duration;

/// An open-model executor: a rate that is constant or ramps through stages.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalRate {
    /// Iterations per second at the start of the first stage.
    pub start_rate: f64,
    /// The stages, in order. In each, the rate moves linearly from the previous stage's rate
    /// (or `start_rate`) to its own `rate` over its `duration`. A constant rate is one stage
    /// whose rate equals `start_rate`.
    pub stages: Vec<RateStage>,
    /// How sends are spaced.
    pub schedule: Schedule,
    /// Most iterations in flight at once; a send due when all are busy is dropped.
    pub max_in_flight: u32,
    /// Whether the plan wrote a ramp (`ramping_rate`) rather than a constant rate.
    pub ramping: bool,
}

impl ArrivalRate {
    /// A constant `rate` per second for `duration`.
    pub fn constant(rate: f64, duration: Duration, schedule: Schedule, max_in_flight: u32) -> Self {
        ArrivalRate {
            start_rate: rate,
            stages: vec![RateStage { rate, duration }],
            schedule,
            max_in_flight,
            ramping: false,
        }
    }

    /// Total duration of every stage.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest rate reached.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.rate)
            .fold(self.start_rate, f64::max)
    }

    /// A one-line description for `--dry-run` and the console: `1000/s for 10s (uniform, at
    /// most 2000 in flight)`, or the stages of a ramp.
    pub fn describe(&self) -> String {
        let schedule = match self.schedule {
            Schedule::Uniform => "uniform",
            Schedule::Poisson => "poisson",
        };
        let how = format!("{schedule}, at most {} in flight", self.max_in_flight);
        if !self.ramping {
            return format!(
                "{}/s for {} ({how})",
                self.start_rate,
                humantime::format_duration(self.duration())
            );
        }
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| {
                format!(
                    "{}/s over {}",
                    s.rate,
                    humantime::format_duration(s.duration)
                )
            })
            .collect();
        format!(
            "ramping from {}/s: {} ({how})",
            self.start_rate,
            stages.join(", then ")
        )
    }

    /// The integral of the rate over every stage: how many sends the schedule holds (exactly,
    /// rounded up, for the uniform schedule; on average for Poisson).
    pub fn expected_sends(&self) -> f64 {
        let mut rate = self.start_rate;
        let mut total = 0.0;
        for s in &self.stages {
            total += (rate + s.rate) / 2.0 * s.duration.as_secs_f64();
            rate = s.rate;
        }
        total
    }

    /// The number of sends planned: the uniform schedule sends at 0, 1, 2, ... of the rate's
    /// integral, so this is the integral rounded up.
    pub fn planned_sends(&self) -> u64 {
        self.expected_sends().ceil() as u64
    }
}

/// One stage of a ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// Iterations per second at the end of the stage.
    pub rate: f64,
    /// How long the stage lasts.
    pub duration: Duration,
}

/// How sends are spaced within the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Evenly: at a constant rate R, one send every 1/R seconds.
    Uniform,
    /// As a Poisson process (exponential gaps), seeded by the plan's seed.
    Poisson,
}

/// The seconds a threshold is evaluated over, instead of the whole test.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowScope {
    /// From `from` to `to` (or the end of the test) after the test started, in whole seconds:
    /// `{window=10s..20s}`, `{window=30s..}`.
    Range {
        /// Start, from the test's start.
        from: Duration,
        /// End (exclusive), from the test's start; None for the end of the test.
        to: Option<Duration>,
    },
    /// While a fault of the check was applied: `{window=during_fault}`. Only in fault tests.
    DuringFault,
    /// From the recovery of the last fault to the end of the test: `{window=after_recovery}`.
    /// Only in fault tests.
    AfterRecovery,
    /// Every second of the test outside the fault windows: before the first injection and
    /// after each recovery: `{window=outside_fault}`. Only in fault tests; the default
    /// `count(failures){window=outside_fault} == 0` of a fault test reads it.
    OutsideFault,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_sends_integrate_the_rate() {
        let c = ArrivalRate::constant(1000.0, Duration::from_secs(10), Schedule::Uniform, 10);
        assert_eq!(c.planned_sends(), 10_000);
        assert_eq!(c.peak_rate(), 1000.0);
        let ramp = ArrivalRate {
            start_rate: 0.0,
            stages: vec![
                RateStage {
                    rate: 100.0,
                    duration: Duration::from_secs(10),
                },
                RateStage {
                    rate: 100.0,
                    duration: Duration::from_secs(5),
                },
            ],
            schedule: Schedule::Poisson,
            max_in_flight: 10,
            ramping: true,
        };
        assert_eq!(ramp.planned_sends(), 1000);
        assert_eq!(ramp.duration(), Duration::from_secs(15));
        assert_eq!(ramp.peak_rate(), 100.0);
    }
}
