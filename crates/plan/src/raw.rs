//! The raw plan: serde structs that mirror the TOML file one to one.
//!
//! Nothing here is validated beyond TOML types. Every key is optional at this stage, so that a
//! missing key becomes a compile error with a span and a hint (collected with all the others)
//! instead of serde's first-error stop. Values keep their byte spans (`toml::Spanned`) for the
//! diagnostics. The `///` comment on each field is the plan reference: `docs/plan.md` is generated
//! from them (see `docs.rs`).

use std::collections::BTreeMap;

use toml::Spanned;

use crate::load::raw::{RawExecutor, RawLoad, RawMixEntry, RawRounds, RawSampler, RawVus};
use crate::scenarios::raw::{RawExpect, RawPoll, RawScenario, RawStep, RawTrack};
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, MapOfTables, Table};
use crate::schema::{nested, raw_table};
use crate::streams::raw::{RawReconnect, RawSse, RawStreamEvent, RawWs, RawWsClose, RawWsSend};
use crate::targets::raw::{RawProbeTable, RawTarget};

/// A string value with its span.
pub type Str = Spanned<String>;

raw_table! {
    /// A plan file. Its top-level tables are below; any other key is an error.
    pub struct RawPlanFile as "the plan file" {
        /// What the plan is called, where it runs, and its hard bounds.
        plan: Option<Spanned<RawPlanSection>> = "table", Required, nested(Table, &RawPlanSection::SCHEMA);
        /// How the settle phase waits for tracked work to finish.
        // Not spanned: toml cannot span a table that only `[settle.watch]` creates.
        settle: Option<RawSettle> = "table", DefaultsTo("{}"), nested(Table, &RawSettle::SCHEMA);
        /// Free values that templates read as `{{ vars.NAME }}`. Strings in them are
        /// interpolated (`${VAR}`), not templated.
        vars: Option<BTreeMap<String, Spanned<toml::Value>>> = "table of any values", DefaultsTo("{}");
        /// Secrets, by name, each read from an environment variable. A secret's value never
        /// appears in any output; templates read it as `{{ secrets.NAME }}`.
        secrets: Option<BTreeMap<String, Spanned<RawSecret>>> = "table of secrets", DefaultsTo("{}"), nested(MapOfTables, &RawSecret::SCHEMA);
        /// Named services under test.
        targets: Option<BTreeMap<String, RawTarget>> = "table of targets", DefaultsTo("{}"), nested(MapOfTables, &RawTarget::SCHEMA);
        /// Named journeys: ordered steps that one virtual user runs per iteration.
        scenarios: Option<BTreeMap<String, RawScenario>> = "table of scenarios", DefaultsTo("{}"), nested(MapOfTables, &RawScenario::SCHEMA);
        /// Load tests, run in the order they are written.
        load: Option<Vec<Spanned<RawLoad>>> = "array of tables", DefaultsTo("[]"), nested(ListOfTables, &RawLoad::SCHEMA);
        /// Fault tests, run after the load tests in the order they are written.
        faults: Option<Vec<Spanned<crate::faults::raw::RawFault>>> = "array of tables", DefaultsTo("[]"), nested(ListOfTables, &crate::faults::raw::RawFault::SCHEMA);
        /// Rules that stop the run: stop conditions.
        safety: Option<Spanned<crate::faults::raw::RawSafety>> = "table", DefaultsTo("{}"), nested(Table, &crate::faults::raw::RawSafety::SCHEMA);
        /// What the evidence bundle may record about the machine that ran the gate.
        evidence: Option<Spanned<RawEvidence>> = "table", DefaultsTo("{}"), nested(Table, &RawEvidence::SCHEMA);
        /// Fault proxies, by name, placed between a service and a dependency so that fault
        /// tests can inject network faults.
        proxies: Option<BTreeMap<String, crate::proxies::raw::RawProxy>> = "table of proxies", DefaultsTo("{}"), nested(MapOfTables, &crate::proxies::raw::RawProxy::SCHEMA);
        /// Stores the gate reads directly (Postgres, Redis, an object store), by name, for
        /// the verification checks.
        oracles: Option<BTreeMap<String, Spanned<crate::verify::raw::RawOracle>>> = "table of oracles", DefaultsTo("{}"), nested(MapOfTables, &crate::verify::raw::RawOracle::SCHEMA);
        /// Verification checks, run after every load and fault test has settled, in the order
        /// they are written.
        verify: Option<Vec<Spanned<crate::verify::raw::RawVerify>>> = "array of tables", DefaultsTo("[]"), nested(ListOfTables, &crate::verify::raw::RawVerify::SCHEMA);
    }
}

raw_table! {
    /// `[evidence]`: what the run directory's `manifest.json` may record about the machine.
    pub struct RawEvidence as "[evidence]" {
        /// Record the machine's hostname in the environment fingerprint of `manifest.json`.
        /// Off by default: a hostname can identify a person or an internal network.
        hostname: Option<Spanned<bool>> = "boolean", DefaultsTo("false");
    }
}

raw_table! {
    /// The plan itself.
    pub struct RawPlanSection as "[plan]" {
        /// The plan's name, shown in every report.
        name: Option<Str> = "string", Required;
        /// Where the plan runs: `local`, `staging` or `production`. Fault injection against
        /// `production` needs `--allow-production`.
        environment: Option<Str> = "string", DefaultsTo("\"local\"");
        /// The seed of every random choice (`uuid()` in templates, think times, mixes), so that
        /// a run can be repeated.
        seed: Option<Spanned<i64>> = "integer >= 0", DefaultsTo("0");
        /// Hard bounds on the whole run, enforced by the engine. `duration` and `requests` are
        /// mandatory: a gate must not be able to run away.
        limits: Option<Spanned<RawLimits>> = "table", Required, nested(Table, &RawLimits::SCHEMA);
    }
}

raw_table! {
    /// `limits = { duration = "5m", requests = 50000, rate = 1000 }` in `[plan]`.
    pub struct RawLimits as "[plan] limits" {
        /// Maximum wall time of the whole run; the run stops when it passes.
        duration: Option<Str> = "duration", Required;
        /// Maximum number of requests the run sends, over all tests and probes.
        requests: Option<Spanned<i64>> = "integer > 0", Required;
        /// Maximum request rate per second over all tests.
        rate: Option<Spanned<f64>> = "number > 0", Optional;
    }
}

raw_table! {
    /// After the load, the engine polls every tracked unit of work until it is terminal or the
    /// timeout passes, then classifies it (ok, lost, duplicates, stuck, ...).
    pub struct RawSettle as "[settle]" {
        /// How long to wait for every tracked unit of work to reach a terminal state.
        timeout: Option<Str> = "duration", DefaultsTo("\"30s\"");
        /// Pause between polling rounds.
        interval: Option<Str> = "duration", DefaultsTo("\"250ms\"");
        /// Reads of tracked work during the run, before settle: `[settle.watch]` or
        /// `watch = { interval = "100ms", share = 0.25 }`.
        watch: Option<Spanned<RawWatch>> = "table", DefaultsTo("{}"), nested(Table, &RawWatch::SCHEMA);
    }
}

raw_table! {
    /// While the load and fault tests run, the ledger reads every tracked unit of work in the
    /// background, so that its time to terminal is measured (not bounded by when settle began)
    /// and a brief regression (`completed`, then `running`, then `completed` again) is seen.
    /// Each key has at most one read in flight, and at most 4 are in flight overall (the reads
    /// observe the service and must not load it); these reads count against `limits.requests`
    /// like every other request, and stop when it is spent.
    /// What the watch did is in `report.json` under `run.watch`.
    pub struct RawWatch as "[settle.watch]" {
        /// Read tracked work during the run. `false` leaves every read to settle.
        enabled: Option<Spanned<bool>> = "boolean", DefaultsTo("true");
        /// Pause between two reads of a key not yet seen terminal.
        interval: Option<Str> = "duration", DefaultsTo("settle.interval");
        /// Once a read saw every job of a key terminal, the key is read every `interval` for
        /// this much longer, to catch a brief regression; then it is left to settle. Settle
        /// also polls a key until it has stayed terminal this long (at its deadline, a key
        /// terminal at its last poll counts as settled). `"0s"` means no confirmation reads.
        confirm: Option<Str> = "duration", DefaultsTo("\"1s\"");
        /// Background reads may be at most this share of the requests the load has sent so
        /// far (plus 16, so that the first keys are read). When they reach it, due reads are
        /// skipped until the load has sent more.
        share: Option<Spanned<f64>> = "number > 0", DefaultsTo("0.5");
        /// At most this many background reads per second (with a burst of at most 16).
        max_rate: Option<Spanned<f64>> = "number > 0", DefaultsTo("200");
    }
}

raw_table! {
    /// `NAME = { env = "VAR" }` in `[secrets]`. A secret whose variable is unset or empty is an
    /// error only if a template references it. A value shorter than 8 characters is an error
    /// (referenced or not): it would also match ordinary words and figures, so it could not be
    /// redacted safely. Every output is redacted of the value in every form it can take on the
    /// way: as is, quoted or escaped into JSON or a message, percent-encoded, HTML-escaped, and
    /// base64 (alone or inside a longer value such as a `Basic` header of `user:secret`).
    pub struct RawSecret as "[secrets] NAME" {
        /// The environment variable holding the secret's value.
        env: Option<Str> = "string", Required;
    }
}

/// Every table of the plan file, for the docs and for tests that walk them all.
pub const ALL_TABLES: &[&crate::schema::TableSchema] = &[
    &RawPlanFile::SCHEMA,
    &RawPlanSection::SCHEMA,
    &RawLimits::SCHEMA,
    &RawSettle::SCHEMA,
    &RawWatch::SCHEMA,
    &RawEvidence::SCHEMA,
    &RawSecret::SCHEMA,
    &RawTarget::SCHEMA,
    &RawProbeTable::SCHEMA,
    &RawScenario::SCHEMA,
    &RawStep::SCHEMA,
    &RawExpect::SCHEMA,
    &RawPoll::SCHEMA,
    &RawTrack::SCHEMA,
    &RawLoad::SCHEMA,
    &RawMixEntry::SCHEMA,
    &RawExecutor::SCHEMA,
    &RawRounds::SCHEMA,
    &RawVus::SCHEMA,
    &crate::load::raw_open::RawConstantRate::SCHEMA,
    &crate::load::raw_open::RawRampingRate::SCHEMA,
    &crate::load::raw_open::RawRateStage::SCHEMA,
    &RawSampler::SCHEMA,
    &RawWs::SCHEMA,
    &RawWsSend::SCHEMA,
    &RawWsClose::SCHEMA,
    &RawSse::SCHEMA,
    &RawReconnect::SCHEMA,
    &RawStreamEvent::SCHEMA,
    &crate::targets::raw::RawIdentity::SCHEMA,
    &crate::targets::raw::RawControl::SCHEMA,
    &crate::targets::raw::RawReady::SCHEMA,
    &crate::faults::raw::RawFault::SCHEMA,
    &crate::faults::raw::RawFaultLoad::SCHEMA,
    &crate::faults::raw::RawTimelineEntry::SCHEMA,
    &crate::faults::raw::RawRecovery::SCHEMA,
    &crate::faults::raw::RawSafety::SCHEMA,
    &crate::faults::raw::RawStopCondition::SCHEMA,
    &crate::proxies::raw::RawProxy::SCHEMA,
    crate::verify::raw::TABLES[0],
    crate::verify::raw::TABLES[1],
    crate::verify::raw::TABLES[2],
    crate::verify::raw::TABLES[3],
    crate::verify::raw::TABLES[4],
    crate::verify::raw::TABLES[5],
    crate::verify::raw::TABLES[6],
    crate::verify::raw::TABLES[7],
    crate::verify::raw::TABLES[8],
    crate::verify::raw::TABLES[9],
    crate::verify::raw::TABLES[10],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_documented_and_every_table_is_reachable() {
        for table in ALL_TABLES {
            assert!(!table.doc.trim().is_empty(), "{} has no doc", table.title);
            for field in table.fields {
                assert!(
                    !field.doc.trim().is_empty(),
                    "{}.{} has no doc",
                    table.title,
                    field.key()
                );
            }
        }
        let mut seen = vec![RawPlanFile::SCHEMA.title];
        let mut stack = vec![&RawPlanFile::SCHEMA];
        while let Some(table) = stack.pop() {
            for nested in table.fields.iter().filter_map(|f| f.nested) {
                if !seen.contains(&nested.table.title) {
                    seen.push(nested.table.title);
                    stack.push(nested.table);
                }
            }
        }
        assert_eq!(seen.len(), ALL_TABLES.len(), "reachable: {seen:?}");
    }

    #[test]
    fn the_demo_plan_deserializes() {
        let text = include_str!("../../../examples/demo.toml");
        let raw: RawPlanFile = toml::from_str(text).expect("the demo plan is valid TOML");
        assert_eq!(raw.load.map(|l| l.len()), Some(4));
    }
}
