//! The raw fault tables: a target's `identity` and `control`, `[[faults]]` with its load,
//! timeline and recovery, and `[safety]`. Like `raw.rs`, every key is optional here; the compile
//! step reports what is missing. The `///` comments are the plan reference (`docs/plan.md`).

use toml::Spanned;

use crate::load::raw::{RawExecutor, RawMixEntry, RawSampler};
use crate::raw::Str;
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, Table};
use crate::schema::{nested, raw_table};

raw_table! {
    /// A fault test: background load, a timeline of real faults, recovery criteria, and
    /// expectations. Fault tests run after the load tests, in the order they are written.
    pub struct RawFault as "[[faults]]" {
        /// Short unique id, e.g. `"C1"`; `--only C1` selects by it.
        id: Option<Str> = "string", Required;
        /// Human name for the reports. Default: the id.
        name: Option<Str> = "string", DefaultsTo("id");
        /// Whether the verdict depends on this test.
        required: Option<bool> = "boolean", DefaultsTo("true");
        /// The background load: `{ scenario = "...", executor = { ... } }` or
        /// `{ mix = [...], executor = { ... } }`.
        load: Option<Spanned<RawFaultLoad>> = "table", Required, nested(Table, &RawFaultLoad::SCHEMA);
        /// The faults, in order; an entry never fires before the previous one.
        timeline: Option<Vec<Spanned<RawTimelineEntry>>> = "list of tables", Required, nested(ListOfTables, &RawTimelineEntry::SCHEMA);
        /// When the system counts as recovered.
        recovery: Option<Spanned<RawRecovery>> = "table", DefaultsTo("{ healthy = 3, within = \"30s\" }"), nested(Table, &RawRecovery::SCHEMA);
        /// Expectations: anything a load threshold accepts (`lost == 0`, `p(95) < 2s`), plus
        /// `recovery < 30s`, `availability >= 0.5` (the worst 1-second window), `outage < 10s`
        /// (time the recovery probe failed) and `drain < 20s` (after recovery, until the
        /// `backlog` gauge is back to its level before the fault; without a `backlog` gauge,
        /// until the ledger first saw the last of the test's tracked work done).
        expect: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// Gauges polled during the test, for `when` conditions, thresholds and `backlog`.
        sample: Option<Vec<Spanned<RawSampler>>> = "list of tables", DefaultsTo("[]"), nested(ListOfTables, &RawSampler::SCHEMA);
    }
}

raw_table! {
    /// `load = { ... }` in `[[faults]]`: exactly one of `scenario` or `mix`, and an executor.
    pub struct RawFaultLoad as "[[faults]] load" {
        /// The one scenario every virtual user runs.
        scenario: Option<Str> = "string", Optional;
        /// A weighted mix of scenarios.
        mix: Option<Vec<Spanned<RawMixEntry>>> = "list of tables", Optional, nested(ListOfTables, &RawMixEntry::SCHEMA);
        /// How load is generated (as in `[[load]]`).
        executor: Option<Spanned<RawExecutor>> = "table", Required, nested(Table, &RawExecutor::SCHEMA);
    }
}

raw_table! {
    /// One entry of a timeline: one trigger (`at`, `after` or `when`) and one action (`kill`,
    /// `restart`, `stop`, `start`, `pause`, `request` or `heal`).
    pub struct RawTimelineEntry as "[[faults]] timeline" {
        /// Fire at this offset from the start of the test, e.g. `"1s"`.
        at: Option<Str> = "duration", Optional;
        /// Fire this long after the previous entry was applied.
        after: Option<Str> = "duration", Optional;
        /// Fire when a sampled gauge holds: `"gauge(NAME) OP NUMBER"`, e.g.
        /// `"gauge(running) >= 5"`.
        when: Option<Str> = "condition", Optional;
        /// Send `signal` to this target.
        kill: Option<Str> = "target name", Optional;
        /// The signal of `kill`: `KILL`, `TERM`, `INT`, `QUIT`, `HUP`, `USR1`, `USR2`.
        signal: Option<Str> = "string", DefaultsTo("\"KILL\"");
        /// Stop and start this target; proven when its identity changed and it is healthy again.
        restart: Option<Str> = "target name", Optional;
        /// Stop this target (it is started again when the test heals).
        stop: Option<Str> = "target name", Optional;
        /// Start this target.
        start: Option<Str> = "target name", Optional;
        /// Freeze this target for `for`; a guard process resumes it even if shakedown dies.
        pause: Option<Str> = "target name", Optional;
        /// How long a `pause` or a `toxic` lasts.
        r#for: Option<Str> = "duration", DefaultsTo("\"5s\"");
        /// `METHOD target:/path`: call an endpoint that injects a fault which expires by itself,
        /// e.g. `"POST ops:/api/v1/ops/chaos/db-outage?seconds=3"`.
        request: Option<Str> = "request line", Optional;
        /// `heal = true`: revert every fault applied so far.
        heal: Option<bool> = "boolean", Optional;
        /// Put a network fault on `proxy` for `for`: a kind (`"down"`) or a table with `kind`,
        /// its parameters, `direction` and `toxicity`, e.g. `{ kind = "latency", latency =
        /// "300ms", jitter = "20ms" }`. Kinds: `latency` (latency, jitter), `bandwidth` (rate,
        /// bytes/s), `slicer` (average_size, size_variation, delay), `limit_data` (bytes),
        /// `slow_close` (delay), `timeout` (timeout; a blackhole), `reset_peer` (timeout; a TCP
        /// RST) and `down` (the proxy refuses connections and closes open ones). `direction` is
        /// `upstream`, `downstream` or `both`; `toxicity` is the share of connections hit (0 to
        /// 1, drawn with the plan's seed). Proven by the proxy's counters.
        toxic: Option<Spanned<crate::proxies::raw::ToxicForm>> = "toxic kind or table", Optional;
        /// The proxy (`[proxies.NAME]`) a `toxic` goes on.
        proxy: Option<Str> = "proxy name", Optional;
    }
}

raw_table! {
    /// `recovery = { ... }` in `[[faults]]`.
    pub struct RawRecovery as "[[faults]] recovery" {
        /// What is probed: a target name (its health probe, or for a process target without
        /// one, its process being up) or a request line `METHOD target:/path`. Default: the
        /// target of the first fault.
        probe: Option<Str> = "string", Optional;
        /// How many consecutive healthy probes make a recovery.
        healthy: Option<Spanned<i64>> = "integer > 0", DefaultsTo("3");
        /// The recovery deadline, from the last fault's injection. A target that is not back
        /// by then fails the check.
        within: Option<Str> = "duration", DefaultsTo("\"30s\"");
        /// Time between probes.
        every: Option<Str> = "duration", DefaultsTo("\"200ms\"");
        /// A gauge of this test (from `sample`) holding a queue depth; the time it takes to
        /// return to its pre-fault level after recovery is the backlog drain time.
        backlog: Option<Str> = "string", Optional;
        /// The latency objective of availability: a request of the background load counts as
        /// available only if it succeeded within this time. Default: any success counts.
        objective: Option<Str> = "duration", Optional;
    }
}

raw_table! {
    /// `[safety]`: rules that stop the run.
    pub struct RawSafety as "[safety]" {
        /// Stop conditions: probes that, when they fail `failures` times in a row during the
        /// run, abort it (every applied fault is reverted).
        stop: Option<Vec<Spanned<RawStopCondition>>> = "list of tables", DefaultsTo("[]"), nested(ListOfTables, &RawStopCondition::SCHEMA);
    }
}

raw_table! {
    /// One stop condition in `[safety]`.
    pub struct RawStopCondition as "[safety] stop" {
        /// `METHOD target:/path` that must answer 2xx.
        request: Option<Str> = "request line", Required;
        /// Time between probes.
        every: Option<Str> = "duration", DefaultsTo("\"1s\"");
        /// Consecutive failures that stop the run.
        failures: Option<Spanned<i64>> = "integer > 0", DefaultsTo("3");
    }
}
