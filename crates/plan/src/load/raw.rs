//! The raw `[[load]]` tables: a load test, its mix, its closed-model executors and its samplers
//! (the open-model executors are in `raw_open.rs`).
//!
//! Like every raw table, nothing here is validated beyond TOML types, and the `///` comment on
//! each field is the plan reference.

use toml::Spanned;

use crate::raw::Str;
use crate::raw_forms::OrderedMap;
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, Table};
use crate::schema::{nested, raw_table};

raw_table! {
    /// A load test. Exactly one of `scenario` or `mix`.
    pub struct RawLoad as "[[load]]" {
        /// Short unique id, e.g. `"L1"`; `--only L1,L2` selects by it.
        id: Option<Str> = "string", Required;
        /// Human name for the reports. Default: the id.
        name: Option<Str> = "string", DefaultsTo("id");
        /// Whether the verdict depends on this test.
        required: Option<bool> = "boolean", DefaultsTo("true");
        /// The one scenario every virtual user runs.
        scenario: Option<Str> = "string", Optional;
        /// A weighted mix of scenarios: `[{ scenario = "a", weight = 1 }, ...]`. Virtual users
        /// are assigned to scenarios by weight.
        mix: Option<Vec<Spanned<RawMixEntry>>> = "list of tables", Optional, nested(ListOfTables, &RawMixEntry::SCHEMA);
        /// How load is generated: `{ rounds = { concurrency = 20, rounds = 3 } }`,
        /// `{ vus = { count = 10, duration = "30s" } }` or `{ vus = { count = 10, iterations = 100 } }`.
        executor: Option<Spanned<RawExecutor>> = "table", Required, nested(Table, &RawExecutor::SCHEMA);
        /// Pass criteria in k6's syntax, e.g. `["p(95) < 500ms", "count(failures) == 0"]`
        /// (see Thresholds below).
        thresholds: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// Gauges sampled while the test runs, usable in thresholds as `max(NAME)`.
        sample: Option<Vec<Spanned<RawSampler>>> = "list of tables", DefaultsTo("[]"), nested(ListOfTables, &RawSampler::SCHEMA);
        /// For an executor with a duration (`vus` with `duration`, `constant_rate`,
        /// `ramping_rate`): how long the iterations in flight when that duration is up may go
        /// on; then their requests are cancelled. A cancelled request is counted as `cancelled`
        /// in the test's figures, not as a request, a failure or a latency (it has no answer to
        /// judge). `"0s"` ends the test at its duration, as `shakedown hit -d` does. Default:
        /// they run to their end, each request bounded by its target's timeout.
        graceful_stop: Option<Str> = "duration", Optional;
    }
}

raw_table! {
    /// One entry of `mix` in `[[load]]`.
    pub struct RawMixEntry as "[[load]] mix" {
        /// Scenario name.
        scenario: Option<Str> = "string", Required;
        /// Relative weight.
        weight: Option<Spanned<i64>> = "integer > 0", DefaultsTo("1");
    }
}

raw_table! {
    /// `executor` in `[[load]]`: exactly one of `rounds`, `vus` (the closed model: each
    /// virtual user waits for its previous iteration), `constant_rate` or `ramping_rate` (the
    /// open model: iterations start on a schedule).
    pub struct RawExecutor as "[[load]] executor" {
        /// `concurrency` virtual users each run one iteration per round; the rounds run one
        /// after another.
        rounds: Option<Spanned<RawRounds>> = "table", Optional, nested(Table, &RawRounds::SCHEMA);
        /// `count` virtual users loop over their scenario for a `duration`, or share a number
        /// of `iterations`.
        vus: Option<Spanned<RawVus>> = "table", Optional, nested(Table, &RawVus::SCHEMA);
        /// Open model: iterations start at a constant rate (see below).
        constant_rate: Option<Spanned<crate::load::raw_open::RawConstantRate>> = "table", Optional, nested(Table, &crate::load::raw_open::RawConstantRate::SCHEMA);
        /// Open model: iterations start at a rate that ramps through stages (see below).
        ramping_rate: Option<Spanned<crate::load::raw_open::RawRampingRate>> = "table", Optional, nested(Table, &crate::load::raw_open::RawRampingRate::SCHEMA);
    }
}

raw_table! {
    /// `executor = { rounds = { ... } }`.
    pub struct RawRounds as "executor rounds" {
        /// Virtual users per round: at most 100000 (each holds memory whether or not it
        /// sends), and no more than `limits.requests` (more are cut to it, with a warning).
        concurrency: Option<Spanned<i64>> = "integer from 1 to 100000", Required;
        /// Number of rounds.
        rounds: Option<Spanned<i64>> = "integer > 0", Required;
    }
}

raw_table! {
    /// `executor = { vus = { ... } }`: exactly one of `duration` or `iterations`.
    pub struct RawVus as "executor vus" {
        /// Number of virtual users: at most 100000 (each holds memory whether or not it
        /// sends), and no more than `limits.requests` (more are cut to it, with a warning).
        count: Option<Spanned<i64>> = "integer from 1 to 100000", Required;
        /// Each user loops until this much time has passed.
        duration: Option<Str> = "duration", Optional;
        /// The users share this many iterations in total.
        iterations: Option<Spanned<i64>> = "integer > 0", Optional;
    }
}

raw_table! {
    /// One entry of `sample` in `[[load]]`: a request sent periodically while the test runs,
    /// whose JSON value is recorded as a gauge.
    pub struct RawSampler as "[[load]] sample" {
        /// The gauge's name, used in thresholds as `max(NAME)`, `min`, `avg` or `last`.
        name: Option<Str> = "string", Required;
        /// `METHOD target:/path`; the path is a template.
        request: Option<Str> = "request line", Required;
        /// Extra headers (templates), added to the target's.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// JSONPath of the numeric value in the response, e.g. `"$.depth"`.
        value: Option<Str> = "JSONPath", Required;
        /// Sampling period.
        every: Option<Str> = "duration", DefaultsTo("\"1s\"");
    }
}
