//! The model of a load test: its scenario or mix, its executor, samplers and thresholds.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::expr::CmpOp;
use crate::model::LedgerClass;
use crate::targets::model::Probe;
use serde_json_path::JsonPath;

/// A load test: a scenario mix driven by an executor, judged by thresholds.
#[derive(Debug, Clone)]
pub struct LoadTest {
    /// Short id, e.g. `L1`; `--only` selects by it.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Whether the verdict depends on it (default true).
    pub required: bool,
    /// The scenarios and their weights (a single scenario has weight 1).
    pub mix: Vec<MixEntry>,
    /// How load is generated.
    pub executor: Executor,
    /// Pass criteria.
    pub thresholds: Vec<Threshold>,
    /// Gauges sampled periodically while the test runs (e.g. queue depth).
    pub samplers: Vec<Sampler>,
    /// Every target the test touches (steps, track reads, samplers): a BLOCKED target blocks it.
    pub targets: BTreeSet<String>,
    /// How long iterations in flight at the end of the executor's duration may go on before
    /// their requests are cancelled (counted as cancelled); None lets them run to their end.
    pub graceful_stop: Option<Duration>,
}

/// One entry of a weighted scenario mix.
#[derive(Debug, Clone)]
pub struct MixEntry {
    /// Scenario name.
    pub scenario: String,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// Closed-model executors.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `concurrency` VUs each run one iteration per round; rounds run one after another.
    Rounds {
        /// VUs per round.
        concurrency: u32,
        /// Number of rounds.
        rounds: u32,
    },
    /// `vus` VUs loop over their scenario for `duration`.
    VusDuration {
        /// Number of VUs.
        vus: u32,
        /// How long.
        duration: Duration,
    },
    /// `vus` VUs share `iterations` iterations in total.
    VusIterations {
        /// Number of VUs.
        vus: u32,
        /// Total iterations.
        iterations: u64,
    },
    /// Open model: iterations start on a schedule at a constant or ramping rate.
    Arrival(crate::load::model_open::ArrivalRate),
}

/// A periodically sampled gauge: a request whose JSON value is recorded.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// The gauge's name, used in thresholds as `max(NAME)`.
    pub name: String,
    /// The request.
    pub probe: Probe,
    /// Target of the request.
    pub target: String,
    /// JSONPath of the numeric value.
    pub value: JsonPath,
    /// Sampling period.
    pub every: Duration,
}

/// A compiled threshold, e.g. `p(95) < 500ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written, for the report.
    pub source: String,
    /// What is measured.
    pub metric: ThresholdMetric,
    /// Restrict latency/count metrics to one step, e.g. `p(95){step=create} < 200ms`.
    pub step: Option<String>,
    /// Restrict latency/count metrics to some seconds of the test, e.g.
    /// `p(99){window=10s..20s} < 200ms` or `{window=during_fault}`.
    pub window: Option<crate::load::model_open::WindowScope>,
    /// Comparison.
    pub op: CmpOp,
    /// Right-hand side, in the metric's unit (milliseconds for latencies).
    pub value: f64,
    /// Added by shakedown, not written in the plan: the default `count(failures) == 0` of a
    /// test whose thresholds say nothing about failures (see [`crate::load::threshold_default`]).
    pub default: bool,
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdMetric {
    /// Latency percentile, e.g. `p(95)`; value in milliseconds.
    Percentile(f64),
    /// Mean latency, ms.
    Avg,
    /// Minimum latency, ms.
    Min,
    /// Maximum latency, ms.
    Max,
    /// Median latency, ms.
    Med,
    /// A ratio over requests, e.g. `rate(failures)`.
    Rate(Counter),
    /// A count, e.g. `count(failures)`.
    Count(Counter),
    /// An aggregate of a sampled gauge, e.g. `max(queue_depth)`.
    Gauge {
        /// Which aggregate.
        agg: GaugeAgg,
        /// Sampler name.
        name: String,
    },
    /// A ledger class count, e.g. `lost`, `duplicates`, `stuck`.
    Ledger(LedgerClass),
}

/// Countable request outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Counter {
    /// Requests sent.
    Requests,
    /// Requests whose expectations did not hold (includes errors).
    Failures,
    /// Requests that got no response (connect, timeout, protocol errors).
    Errors,
    /// Scenario iterations completed.
    Iterations,
    /// Open model: sends that could not start on time.
    Dropped,
}

/// Aggregates of a sampled gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum GaugeAgg {
    Max,
    Min,
    Avg,
    Last,
}
