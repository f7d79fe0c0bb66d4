//! The raw open-model executors: `constant_rate = { ... }` and `ramping_rate = { ... }` in a
//! load test's `executor`.
//!
//! Like `raw.rs`, nothing here is validated beyond TOML types, and the `///` comment on each
//! field is the plan reference.

use toml::Spanned;

use crate::raw::Str;
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::ListOfTables;
use crate::schema::{nested, raw_table};

raw_table! {
    /// `executor = { constant_rate = { ... } }`: the open model. Iterations start at `rate` per
    /// second for `duration`, on a schedule fixed in advance, whether or not earlier ones have
    /// finished. The first request of each iteration is timed from its scheduled start, so a
    /// slow or stalled target shows in the latencies (wait plus service time), and a send that
    /// cannot start on time (every in-flight slot busy) is counted as `dropped`.
    pub struct RawConstantRate as "executor constant_rate" {
        /// Iterations started per second (up to `limits.rate` if the plan sets one).
        rate: Option<Spanned<f64>> = "number > 0", Required;
        /// How long the schedule runs.
        duration: Option<Str> = "duration", Required;
        /// How sends are spaced: `"uniform"` (evenly) or `"poisson"` (exponential gaps, seeded
        /// by the plan's seed).
        schedule: Option<Str> = "\"uniform\" or \"poisson\"", DefaultsTo("\"uniform\"");
        /// Most iterations in flight at once. A send due while all are busy is dropped, not
        /// delayed. Default: twice the rate (so a 2 s stall drops nothing), at least 16 and at
        /// most 10000. At most 100000.
        max_in_flight: Option<Spanned<i64>> = "integer from 1 to 100000", Optional;
    }
}

raw_table! {
    /// `executor = { ramping_rate = { ... } }`: the open model with a rate that changes
    /// linearly through `stages`, starting from `start_rate`.
    pub struct RawRampingRate as "executor ramping_rate" {
        /// Iterations per second at the start.
        start_rate: Option<Spanned<f64>> = "number >= 0", DefaultsTo("0");
        /// The stages, in order: `[{ rate = 100, duration = "30s" }, { rate = 100, duration =
        /// "1m" }]`. In each, the rate moves linearly to the stage's `rate` over its `duration`.
        stages: Option<Vec<Spanned<RawRateStage>>> = "list of tables", Required, nested(ListOfTables, &RawRateStage::SCHEMA);
        /// How sends are spaced: `"uniform"` or `"poisson"`.
        schedule: Option<Str> = "\"uniform\" or \"poisson\"", DefaultsTo("\"uniform\"");
        /// Most iterations in flight at once; a send due while all are busy is dropped. Default:
        /// twice the peak rate, at least 16 and at most 10000. At most 100000.
        max_in_flight: Option<Spanned<i64>> = "integer from 1 to 100000", Optional;
    }
}

raw_table! {
    /// One stage of `ramping_rate.stages`.
    pub struct RawRateStage as "ramping_rate stage" {
        /// Iterations per second at the end of the stage.
        rate: Option<Spanned<f64>> = "number >= 0", Required;
        /// How long the stage lasts.
        duration: Option<Str> = "duration", Required;
    }
}
