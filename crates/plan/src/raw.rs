//! The raw plan: serde structs that mirror the TOML file one to one.
//!
//! Nothing here is validated beyond TOML types. Every key is optional at this stage, so that a
//! missing key becomes a compile error with a span and a hint (collected with all the others)
//! instead of serde's first-error stop. Values keep their byte spans (`toml::Spanned`) for the
//! diagnostics. The `///` comment on each field is the plan reference: `docs/plan.md` is generated
//! from them (see `docs.rs`).

use std::collections::BTreeMap;

use toml::Spanned;

use crate::raw_forms::{OrderedMap, ProbeForm, StatusForm, ThinkForm};
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, MapOfTables, Table};
use crate::schema::{Nested, raw_table};
use crate::streams::raw::{RawReconnect, RawSse, RawStreamEvent, RawWs, RawWsClose, RawWsSend};

/// A string value with its span.
pub type Str = Spanned<String>;

const fn nested(shape: crate::schema::Shape, table: &'static crate::schema::TableSchema) -> Nested {
    Nested { shape, table }
}

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

raw_table! {
    /// A named service under test. Steps address it as `METHOD NAME:/path`.
    pub struct RawTarget as "[targets.NAME]" {
        /// Base URL, `http` or `https`, usually from the environment
        /// (`"${API_URL:-http://127.0.0.1:8080}"`). A trailing slash is removed. A userinfo
        /// (`http://user:${API_PASSWORD}@host`) is sent as a `Basic` `Authorization` header
        /// unless the request sets its own, and its password is redacted like a secret.
        url: Option<Str> = "string (URL)", Required;
        /// Headers sent with every request to this target, including probes; values are
        /// templates (usually `{{ secrets.NAME }}`).
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// Health probe, checked at preflight before any load: `"GET /health"` or
        /// `{ request = "GET /health", status = [200] }`.
        health: Option<Spanned<ProbeForm>> = "probe", Optional, nested(Table, &RawProbeTable::SCHEMA);
        /// More preflight probes, typically to prove that credentials work before any load.
        preflight: Option<Vec<Spanned<ProbeForm>>> = "list of probes", DefaultsTo("[]"), nested(ListOfTables, &RawProbeTable::SCHEMA);
        /// Connect timeout of every connection to this target.
        connect_timeout: Option<Str> = "duration", DefaultsTo("\"5s\"");
        /// Timeout of a whole request to this target.
        timeout: Option<Str> = "duration", DefaultsTo("\"30s\"");
        /// Speak HTTP/2 to this target: with prior knowledge on `http`, negotiated on `https`.
        http2: Option<bool> = "boolean", DefaultsTo("false");
        /// How to read what proves a restart (see `[targets.NAME] identity`).
        identity: Option<Spanned<crate::faults::raw::RawIdentity>> = "table", Optional, nested(Table, &crate::faults::raw::RawIdentity::SCHEMA);
        /// How shakedown controls the target for faults (see `[targets.NAME] control`).
        control: Option<Spanned<crate::faults::raw::RawControl>> = "table", Optional, nested(Table, &crate::faults::raw::RawControl::SCHEMA);
    }
}

raw_table! {
    /// The table form of a probe (`health`, `preflight`).
    pub struct RawProbeTable as "probe" {
        /// `METHOD /path` on the probe's target; the path is a template.
        request: Option<Str> = "request line", Required;
        /// Statuses that count as success: one code or a list.
        status: Option<Spanned<StatusForm>> = "status or list of statuses", DefaultsTo("any 2xx");
        /// Extra headers for this probe (templates), added to the target's.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
    }
}

raw_table! {
    /// A named journey.
    pub struct RawScenario as "[scenarios.NAME]" {
        /// The steps, in order. Each is an HTTP step (`request = ...`), a think step
        /// (`think = ...`), a WebSocket session (`ws = { ... }`) or an SSE stream
        /// (`sse = { ... }`).
        steps: Option<Vec<Spanned<RawStep>>> = "list of steps", Required, nested(ListOfTables, &RawStep::SCHEMA);
    }
}

raw_table! {
    /// One step of a scenario: exactly one of `request` (an HTTP step), `think` (a pause),
    /// `ws` (a WebSocket session) or `sse` (a server-sent events stream).
    /// Templates in a step may read the builtins (`vu`, `iteration`, `vars.*`, `secrets.*`,
    /// `uuid()`), the captures of earlier steps, and in a tracked step `key`.
    pub struct RawStep as "step" {
        /// The step's name, unique within its scenario; metrics and `{step=NAME}` thresholds use
        /// it. Default: its position in `steps`, counting from 0 (`"0"`, `"1"`, ...).
        name: Option<Str> = "string", DefaultsTo("position");
        /// `METHOD target:/path`, e.g. `"POST api:/api/v1/runs"`. The target must exist; the
        /// path (with any query string) is a template.
        request: Option<Str> = "request line", Optional;
        /// Request headers (templates), added to the target's own headers.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// A JSON body, written as any TOML value; every string inside is a template.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// A raw body (a template), sent as is. Not together with `json`.
        body: Option<Str> = "template", Optional;
        /// Values to capture from the JSON response: `{ NAME = "$.json.path" }`. Later steps
        /// of the same iteration read them as `{{ NAME }}`.
        capture: Option<OrderedMap<Str>> = "table of JSONPaths", DefaultsTo("{}");
        /// What must hold of the response. Default: any 2xx status.
        expect: Option<Spanned<RawExpect>> = "table", DefaultsTo("{ status = 2xx }"), nested(Table, &RawExpect::SCHEMA);
        /// Repeat the request until a condition on its response holds.
        poll: Option<Spanned<RawPoll>> = "table", Optional, nested(Table, &RawPoll::SCHEMA);
        /// Register the unit of work this request creates in the ledger, which checks after
        /// settle that it was neither lost, duplicated nor stuck.
        track: Option<Spanned<RawTrack>> = "table", Optional, nested(Table, &RawTrack::SCHEMA);
        /// A pause instead of a request: `"100ms"`, or `["50ms", "200ms"]` for a uniformly
        /// random pause in that range (seeded).
        think: Option<Spanned<ThinkForm>> = "duration or [min, max]", Optional;
        /// A WebSocket session instead of a request (see `step ws`).
        ws: Option<Spanned<RawWs>> = "table", Optional, nested(Table, &RawWs::SCHEMA);
        /// A server-sent events stream instead of a request (see `step sse`).
        sse: Option<Spanned<RawSse>> = "table", Optional, nested(Table, &RawSse::SCHEMA);
    }
}

raw_table! {
    /// `expect = { ... }` in a step.
    pub struct RawExpect as "step expect" {
        /// Acceptable statuses: one code or a list.
        status: Option<Spanned<StatusForm>> = "status or list of statuses", DefaultsTo("any 2xx");
        /// Substrings the response body must contain.
        body_contains: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// JSONPath assertions: `{ "$.path" = value }`; the first match must equal the value.
        /// Strings in values are templates.
        json: Option<OrderedMap<Spanned<toml::Value>>> = "table of JSONPath = value", DefaultsTo("{}");
        /// The response must complete within this time.
        latency: Option<Str> = "duration", Optional;
    }
}

raw_table! {
    /// `poll = { ... }` in a step: repeat the request until the condition holds.
    pub struct RawPoll as "step poll" {
        /// JSONPath into the response body, e.g. `"$.status"`.
        until: Option<Str> = "JSONPath", Required;
        /// Values of `until` that end the polling, e.g. `["completed", "failed"]`.
        r#in: Option<Vec<Spanned<toml::Value>>> = "list of values", Required;
        /// Pause between attempts.
        interval: Option<Str> = "duration", DefaultsTo("\"1s\"");
        /// Give up (the step fails) after this long.
        timeout: Option<Str> = "duration", DefaultsTo("\"30s\"");
    }
}

raw_table! {
    /// `track = { ... }` in a step: how to find, later, the unit of work the request created.
    pub struct RawTrack as "step track" {
        /// The client-generated key (a template, usually `"{{ uuid() }}"`). It is sent as the
        /// `Idempotency-Key` header unless the step sets that header, and the step's templates
        /// can read it as `{{ key }}`.
        key: Option<Str> = "template", Required;
        /// `METHOD target:/path` that reads the work back: every job for the key, e.g.
        /// `"GET api:/api/v1/runs?key={{ key }}"`, or the one job by the id the submit answered
        /// with, e.g. `"GET api:/jobs/{{ job_id }}"` (it may read the step's own captures; a read
        /// that needs a capture the submit did not return is never sent, and cannot prove the
        /// job absent). A 404 or 410 answer means no job.
        read: Option<Str> = "request line", Required;
        /// Headers of the read request (templates).
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// JSONPath selecting the jobs in the read's response, e.g. `"$.runs[*]"`, or `"$"`
        /// when the read answers with the one job itself.
        items: Option<Str> = "JSONPath", Required;
        /// JSONPath, relative to one job, of its state, e.g. `"$.status"`.
        state: Option<Str> = "JSONPath", Required;
        /// JSONPath, relative to one job, of how many results it produced (finds duplicates).
        results: Option<Str> = "JSONPath", Optional;
        /// States that are terminal.
        terminal: Option<Vec<Str>> = "list of strings", Required;
        /// Terminal states that count as success; the other terminal states are failures.
        success: Option<Vec<Str>> = "list of strings", Required;
        /// The time objective of the work, e.g. `"30s"`: a job first seen terminal later than
        /// this after its submit is `slow`. Reads are made during settle, so the time is
        /// bounded by the poll interval; a key whose bounds straddle the objective is counted
        /// as undetermined, not as slow.
        objective: Option<Str> = "duration", Optional;
        /// JSONPath, relative to one job, of how many times a worker picked it up, e.g.
        /// `"$.attempts"`: gives stuck keys a subtype and feeds the attempts histogram.
        attempts: Option<Str> = "JSONPath", Optional;
        /// JSONPath, relative to one job, of a value that changes whenever the job makes
        /// progress, e.g. `"$.updated_at"`: a started job whose value stops moving is orphaned.
        updated: Option<Str> = "JSONPath", Optional;
        /// Non-terminal states in which a worker holds the job, e.g. `["running"]`: a stuck job
        /// never seen in one of them (and with 0 attempts) never started.
        started: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// A stuck job with more attempts than this is in a retry loop (needs `attempts`).
        max_attempts: Option<Spanned<i64>> = "integer > 0", Optional;
        /// JSONPath, relative to one job, of the client key the service stored with it, e.g.
        /// `"$.key"`: a job read back for one key whose own key is another is a `collision`.
        key_field: Option<Str> = "JSONPath", Optional;
        /// How an indeterminate submit (a 5xx, a timeout, a reset) is resolved after the load:
        /// `"read"` by the track's read alone (it can resolve it only when it does not need a
        /// capture the submit did not return), or `"replay"`: at settle, the same request is
        /// sent again with the same `Idempotency-Key`, as a real client would recover, and the
        /// job it answers with is read. A replay can create the job if the first attempt left
        /// nothing; that case is its own class, `replay_created`.
        resolve: Option<Str> = "\"read\" or \"replay\"", DefaultsTo("\"read\"");
        /// The statuses with which a replay says that it created the job (rather than
        /// returning the one the first attempt made).
        replay_created: Option<Spanned<StatusForm>> = "status or list of statuses", DefaultsTo("[201]");
    }
}

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
    &crate::faults::raw::RawIdentity::SCHEMA,
    &crate::faults::raw::RawControl::SCHEMA,
    &crate::faults::raw::RawReady::SCHEMA,
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
