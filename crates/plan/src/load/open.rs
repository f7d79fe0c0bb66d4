//! Compiling the open model: `constant_rate` and `ramping_rate` executors, checked against the
//! plan's `limits.rate`, and the window scopes of thresholds.

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::load::model::{Counter, Executor, Threshold, ThresholdMetric};
use crate::load::model_open::{ArrivalRate, RateStage, Schedule, WindowScope};
use crate::load::raw::RawExecutor;
use crate::load::raw_open::{RawConstantRate, RawRampingRate};
use crate::raw::Str;

const HINT: &str = "executor = { constant_rate = { rate = 100, duration = \"30s\" } } or \
{ ramping_rate = { start_rate = 0, stages = [{ rate = 100, duration = \"30s\" }] } }";

/// Default bound on iterations in flight: twice the peak rate, within [16, 10000].
pub fn default_max_in_flight(peak_rate: f64) -> u32 {
    (peak_rate * 2.0).ceil().clamp(16.0, 10_000.0) as u32
}

impl Compiler<'_> {
    /// The open-model executor of `executor`: None if it has neither `constant_rate` nor
    /// `ramping_rate` (the closed-model compiler handles it), `Some(None)` if it has one that
    /// does not compile (the errors are recorded).
    pub(crate) fn open_executor(
        &mut self,
        executor: &Spanned<RawExecutor>,
        id: &str,
    ) -> Option<Option<Executor>> {
        let raw = executor.get_ref();
        let open =
            usize::from(raw.constant_rate.is_some()) + usize::from(raw.ramping_rate.is_some());
        if open == 0 {
            return None;
        }
        let closed = usize::from(raw.rounds.is_some()) + usize::from(raw.vus.is_some());
        if open + closed > 1 {
            self.push(
                Diagnostic::new(
                    Some(executor.span()),
                    format!("load test `{id}` has {} executors", open + closed),
                )
                .label("one executor")
                .hint(HINT),
            );
            return Some(None);
        }
        let rate = match (&raw.constant_rate, &raw.ramping_rate) {
            (Some(c), _) => self.constant_rate(c, id),
            (_, Some(r)) => self.ramping_rate(r, id),
            (None, None) => None,
        };
        let rate = rate.and_then(|r| self.within_rate_limit(r, executor, id));
        Some(rate.map(Executor::Arrival))
    }

    fn constant_rate(&mut self, raw: &Spanned<RawConstantRate>, id: &str) -> Option<ArrivalRate> {
        let r = raw.get_ref();
        let rate = match &r.rate {
            Some(rate) => self.rate(rate, false, &format!("the rate of load test `{id}`")),
            None => {
                self.push(
                    Diagnostic::new(
                        Some(raw.span()),
                        format!("the constant_rate executor of load test `{id}` has no `rate`"),
                    )
                    .label("`rate` is required here")
                    .hint(HINT),
                );
                None
            }
        };
        let duration = match &r.duration {
            Some(d) => self.required_duration(d, &format!("the duration of load test `{id}`")),
            None => {
                self.push(
                    Diagnostic::new(
                        Some(raw.span()),
                        format!("the constant_rate executor of load test `{id}` has no `duration`"),
                    )
                    .label("`duration` is required here")
                    .hint(HINT),
                );
                None
            }
        };
        let schedule = self.schedule(r.schedule.as_ref());
        let max_in_flight = self.max_in_flight(r.max_in_flight.as_ref(), id);
        let rate = rate?;
        Some(ArrivalRate::constant(
            rate,
            duration?,
            schedule?,
            max_in_flight?.unwrap_or_else(|| default_max_in_flight(rate)),
        ))
    }

    fn ramping_rate(&mut self, raw: &Spanned<RawRampingRate>, id: &str) -> Option<ArrivalRate> {
        let r = raw.get_ref();
        let start_rate = match &r.start_rate {
            Some(rate) => self.rate(rate, true, &format!("the start_rate of load test `{id}`")),
            None => Some(0.0),
        };
        let mut stages = Some(Vec::new());
        match &r.stages {
            Some(list) if !list.is_empty() => {
                for stage in list {
                    let s = stage.get_ref();
                    let rate = s.rate.as_ref().and_then(|rate| {
                        self.rate(rate, true, &format!("a stage rate of load test `{id}`"))
                    });
                    let duration = s.duration.as_ref().and_then(|d| {
                        self.required_duration(d, &format!("a stage of load test `{id}`"))
                    });
                    if s.rate.is_none() || s.duration.is_none() {
                        self.push(
                            Diagnostic::new(
                                Some(stage.span()),
                                format!("a stage of load test `{id}` needs `rate` and `duration`"),
                            )
                            .label("incomplete stage")
                            .hint("{ rate = 100, duration = \"30s\" }"),
                        );
                    }
                    match (rate, duration, stages.as_mut()) {
                        (Some(rate), Some(duration), Some(list)) => {
                            list.push(RateStage { rate, duration })
                        }
                        _ => stages = None,
                    }
                }
            }
            _ => {
                self.push(
                    Diagnostic::new(
                        Some(raw.span()),
                        format!("the ramping_rate executor of load test `{id}` has no stages"),
                    )
                    .label("`stages` is required here")
                    .hint(HINT),
                );
                stages = None;
            }
        }
        let schedule = self.schedule(r.schedule.as_ref());
        let max_in_flight = self.max_in_flight(r.max_in_flight.as_ref(), id);
        let (start_rate, stages) = (start_rate?, stages?);
        let mut rate = ArrivalRate {
            start_rate,
            stages,
            schedule: schedule?,
            max_in_flight: 0,
            ramping: true,
        };
        if rate.expected_sends() < 1.0 {
            self.push(
                Diagnostic::new(
                    Some(raw.span()),
                    format!("the ramp of load test `{id}` never sends anything"),
                )
                .label("every rate is zero")
                .hint("give a stage a rate above zero"),
            );
            return None;
        }
        rate.max_in_flight =
            max_in_flight?.unwrap_or_else(|| default_max_in_flight(rate.peak_rate()));
        Some(rate)
    }

    /// A rate per second: finite and positive (or zero, if `zero_ok`).
    fn rate(&mut self, value: &Spanned<f64>, zero_ok: bool, what: &str) -> Option<f64> {
        let v = *value.get_ref();
        if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
            return Some(v);
        }
        self.push(
            Diagnostic::new(
                Some(value.span()),
                format!("{what} must be a positive number, not {v}"),
            )
            .label("not a rate")
            .hint("iterations started per second, e.g. rate = 100"),
        );
        None
    }

    fn schedule(&mut self, value: Option<&Str>) -> Option<Schedule> {
        let Some(value) = value else {
            return Some(Schedule::Uniform);
        };
        match value.get_ref().as_str() {
            "uniform" => Some(Schedule::Uniform),
            "poisson" => Some(Schedule::Poisson),
            other => {
                self.push(
                    Diagnostic::new(Some(value.span()), format!("unknown schedule `{other}`"))
                        .label("not a schedule")
                        .hint("schedule = \"uniform\" (evenly spaced) or \"poisson\" (seeded exponential gaps)"),
                );
                None
            }
        }
    }

    /// `Some(None)` when not given (the default depends on the rate).
    fn max_in_flight(&mut self, value: Option<&Spanned<i64>>, id: &str) -> Option<Option<u32>> {
        match value {
            None => Some(None),
            Some(v) => self.users(v, "max_in_flight", id).map(Some),
        }
    }

    /// Refuse a rate over the plan's `limits.rate`, before anything runs.
    fn within_rate_limit(
        &mut self,
        rate: ArrivalRate,
        executor: &Spanned<RawExecutor>,
        id: &str,
    ) -> Option<ArrivalRate> {
        let peak = rate.peak_rate();
        match self.rate_limit {
            Some(limit) if peak > limit => {
                self.push(
                    Diagnostic::new(
                        Some(executor.span()),
                        format!(
                            "load test `{id}` would send at {peak}/s, over the plan's limits.rate of {limit}/s"
                        ),
                    )
                    .label("over the limit")
                    .hint(format!("lower the rate to at most {limit}, or raise limits.rate in [plan]")),
                );
                None
            }
            _ => Some(rate),
        }
    }
}

/// Why a threshold's window scope cannot be measured, if it cannot: windows hold latencies and
/// request counts per test, not per step, gauge or ledger class.
pub(crate) fn window_problem(t: &Threshold) -> Option<(String, String)> {
    t.window.as_ref()?;
    let hint = "scope a latency (p(N), avg, min, max, med), a rate or a count other than \
iterations to a window, or remove the `window=`";
    let problem = match &t.metric {
        ThresholdMetric::Gauge { .. } | ThresholdMetric::Ledger(_) => {
            Some("is scoped to a window, but gauges and ledger classes are per test")
        }
        ThresholdMetric::Count(Counter::Iterations)
        | ThresholdMetric::Rate(Counter::Iterations) => {
            Some("is scoped to a window, but iterations are counted per test")
        }
        _ if t.step.is_some() => Some("is scoped to a step and a window, but windows are per test"),
        _ => None,
    };
    problem.map(|p| (p.to_string(), hint.to_string()))
}

/// Whether a threshold is scoped to a fault's window (only fault tests have one).
pub(crate) fn needs_a_fault(t: &Threshold) -> bool {
    matches!(
        t.window,
        Some(WindowScope::DuringFault | WindowScope::AfterRecovery | WindowScope::OutsideFault)
    )
}
