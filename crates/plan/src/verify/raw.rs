//! The raw `[oracles.NAME]` and `[[verify]]` tables: the stores a gate reads directly, and the
//! verification checks that run after settle. Like `raw.rs`, every key is optional here;
//! `compile_verify.rs` reports what is missing. The `///` comments are the plan reference
//! (`docs/plan.md`).

use toml::Spanned;

use crate::raw::Str;
use crate::raw_forms::OrderedMap;
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::Table;
use crate::schema::{nested, raw_table};

raw_table! {
    /// A store the gate reads directly, bypassing the API, so that verification checks see the
    /// ground truth: exactly one of `postgres`, `redis`, `local` or `s3`. Connection strings
    /// are templates that may read `{{ secrets.NAME }}` and `{{ vars.NAME }}`; they never
    /// appear in any output.
    pub struct RawOracle as "[oracles.NAME]" {
        /// A Postgres connection URL, e.g. `"postgres://app:{{ secrets.db_password }}@127.0.0.1:5432/app"`.
        postgres: Option<Str> = "template (URL)", Optional;
        /// A Redis URL, e.g. `"redis://127.0.0.1:6379/0"`.
        redis: Option<Str> = "template (URL)", Optional;
        /// An object store in a local directory that holds one folder per bucket.
        local: Option<Str> = "string (directory)", Optional;
        /// An S3-compatible endpoint, e.g. `"http://127.0.0.1:9000"` (path-style requests).
        s3: Option<Str> = "template (URL)", Optional;
        /// The S3 region.
        region: Option<Str> = "string", DefaultsTo("\"us-east-1\"");
        /// The S3 access key id (a template, usually `{{ secrets.NAME }}`); required with `s3`,
        /// so that shakedown never asks a cloud metadata service for credentials.
        access_key: Option<Str> = "template", Optional;
        /// The S3 secret access key (a template, usually `{{ secrets.NAME }}`); required with
        /// `s3`.
        secret_key: Option<Str> = "template", Optional;
        /// How long connecting to the oracle, and each of its operations, may take. An oracle
        /// that does not answer in time makes the checks that read it INCONCLUSIVE.
        timeout: Option<Str> = "duration", DefaultsTo("\"10s\"");
    }
}

raw_table! {
    /// A verification check, run after every load and fault test has settled: exactly one of
    /// `http`, `sql`, `redis`, `artifacts`, `isolation`, `store` or `canary`. It PASSes only
    /// on what it observed; an oracle that cannot be reached makes it INCONCLUSIVE, never PASS.
    pub struct RawVerify as "[[verify]]" {
        /// Short unique id among all checks, e.g. `"REP"`; `--only` selects by it.
        id: Option<Str> = "string", Required;
        /// Human name for the reports. Default: the id.
        name: Option<Str> = "string", DefaultsTo("id");
        /// Whether the verdict depends on this check.
        required: Option<bool> = "boolean", DefaultsTo("true");
        /// One HTTP request whose JSON response is asserted (see `[[verify]] http`).
        http: Option<Spanned<RawHttpProbe>> = "table", Optional, nested(Table, &RawHttpProbe::SCHEMA);
        /// One SQL query against a Postgres oracle, asserted (see `[[verify]] sql`).
        sql: Option<Spanned<RawSqlProbe>> = "table", Optional, nested(Table, &RawSqlProbe::SCHEMA);
        /// One Redis read, asserted (see `[[verify]] redis`).
        redis: Option<Spanned<RawRedisProbe>> = "table", Optional, nested(Table, &RawRedisProbe::SCHEMA);
        /// The package of every succeeded tracked job, checked file by file against its
        /// manifest (see `[[verify]] artifacts`).
        artifacts: Option<Spanned<RawArtifacts>> = "table", Optional, nested(Table, &RawArtifacts::SCHEMA);
        /// Every object the app can write, listed: nothing may be outside the allowed place
        /// (see `[[verify]] isolation`).
        isolation: Option<Spanned<RawIsolation>> = "table", Optional, nested(Table, &RawIsolation::SCHEMA);
        /// Write, read back and delete probe objects, measuring storage latency (see
        /// `[[verify]] store`).
        store: Option<Spanned<RawStoreProbe>> = "table", Optional, nested(Table, &RawStoreProbe::SCHEMA);
        /// Calls through the system to an external dependency, recording their provenance
        /// (see `[[verify]] canary`).
        canary: Option<Spanned<RawCanary>> = "table", Optional, nested(Table, &RawCanary::SCHEMA);
    }
}

raw_table! {
    /// `http = { ... }` in `[[verify]]`: one request, with the target's headers, whose response
    /// must meet `expect` (its status, and every JSONPath assertion).
    pub struct RawHttpProbe as "[[verify]] http" {
        /// `METHOD target:/path`, e.g. `"GET ops:/api/v1/ops/queue"`; the path is a template.
        request: Option<Str> = "request line", Required;
        /// A request sent first, whose captures the request's templates read, e.g. to log in:
        /// `login = { request = "POST api:/auth/login", json = { ... }, capture = { token =
        /// "$.access_token" } }`, then `headers = { Authorization = "Bearer {{ token }}" }`.
        login: Option<Spanned<RawLogin>> = "table", Optional, nested(Table, &RawLogin::SCHEMA);
        /// Extra headers (templates), added to the target's.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// A JSON body, written as any TOML value; strings inside are templates.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// What must hold of the response, as in a step's `expect`: `{ status = 200, json = {
        /// "$.status" = "ok" } }`. Default: any 2xx.
        expect: Option<Spanned<crate::scenarios::raw::RawExpect>> = "table", DefaultsTo("{ status = 2xx }"), nested(Table, &crate::scenarios::raw::RawExpect::SCHEMA);
    }
}

raw_table! {
    /// `sql = { ... }` in `[[verify]]`: one read-only query against a Postgres oracle.
    pub struct RawSqlProbe as "[[verify]] sql" {
        /// The `[oracles.NAME]` to query; it must be a `postgres` oracle.
        oracle: Option<Str> = "string", Required;
        /// The query. It runs in a read-only transaction, through a fresh connection.
        query: Option<Str> = "string", Required;
        /// How many rows it must return: a number (`0`) or a comparison (`">= 1"`).
        rows: Option<Spanned<toml::Value>> = "integer or comparison", Optional;
        /// The value of the first column of the first row: a value it must equal, or a
        /// comparison string for numbers (`"== 0"`, `"< 5"`).
        scalar: Option<Spanned<toml::Value>> = "value or comparison", Optional;
        /// Use the rows as the ledger's ground truth: one row per job, with the column that
        /// holds the job's client key, its state and (optionally) its result count. Every
        /// acknowledged key of the plan's tracked work is then judged from the database:
        /// lost, duplicated, stuck, or ok (see `[[verify]] sql ledger`).
        ledger: Option<Spanned<RawSqlLedger>> = "table", Optional, nested(Table, &RawSqlLedger::SCHEMA);
    }
}

raw_table! {
    /// `ledger = { key = "key", state = "status" }` in a `sql` check: which columns of the
    /// query's rows identify a job's key, state and results.
    pub struct RawSqlLedger as "[[verify]] sql ledger" {
        /// The column holding the client key the job was submitted with.
        key: Option<Str> = "string", Required;
        /// The column holding the job's state; the states mean what the track says.
        state: Option<Str> = "string", Required;
        /// The column holding how many results the job produced (finds duplicate effects).
        results: Option<Str> = "string", Optional;
        /// Only the work tracked by these checks (ids). Default: every check's.
        tests: Option<Vec<Str>> = "list of check ids", DefaultsTo("every check");
    }
}

raw_table! {
    /// `redis = { ... }` in `[[verify]]`: exactly one of `get`, `exists`, `ttl` or `scan`, and
    /// what must hold of the answer.
    pub struct RawRedisProbe as "[[verify]] redis" {
        /// The `[oracles.NAME]` to read; it must be a `redis` oracle.
        oracle: Option<Str> = "string", Required;
        /// GET this key (a template).
        get: Option<Str> = "template", Optional;
        /// EXISTS this key (a template).
        exists: Option<Str> = "template", Optional;
        /// TTL of this key (a template), in seconds.
        ttl: Option<Str> = "template", Optional;
        /// SCAN for keys matching this pattern, e.g. `"worker:*:boot"` (bounded: at most
        /// 100,000 keys are counted).
        scan: Option<Str> = "template", Optional;
        /// For `get`: the value it must equal (a string).
        equals: Option<Str> = "string", Optional;
        /// For `get` of a JSON value: JSONPath assertions, `{ "$.path" = value }`; the first
        /// match must equal the value.
        json: Option<OrderedMap<Spanned<toml::Value>>> = "table of JSONPath = value", DefaultsTo("{}");
        /// For `exists` (and `get`): whether the key must exist. Default for both: true.
        present: Option<bool> = "boolean", DefaultsTo("true");
        /// For `ttl`: a comparison on the seconds left, e.g. `"> 0"` (a key without expiry has
        /// no TTL, and fails any comparison).
        seconds: Option<Str> = "comparison", Optional;
        /// For `scan`: how many keys must match: a number or a comparison (`">= 2"`).
        count: Option<Spanned<toml::Value>> = "integer or comparison", Optional;
    }
}

raw_table! {
    /// `artifacts = { ... }` in `[[verify]]` (the runbook's REP): for every tracked job that
    /// succeeded, its package under `prefix` must hold a manifest and every file the manifest
    /// and `files` name, each with the SHA-256 and size the manifest gives (recomputed from
    /// the bytes, never an ETag). Missing, corrupt, duplicated (two packages for one key) and,
    /// with `orphans`, orphaned packages are each reported with the object's name.
    pub struct RawArtifacts as "[[verify]] artifacts" {
        /// The `[oracles.NAME]` holding the packages: a `local` or `s3` oracle.
        oracle: Option<Str> = "string", Required;
        /// The bucket.
        bucket: Option<Str> = "string", Required;
        /// Where one job's package lives in the bucket, a template that reads `{{ id }}` (the
        /// job's id from the track's read) and `{{ key }}`, e.g. `"runs/{{ id }}/"`.
        prefix: Option<Str> = "template", Required;
        /// The manifest's name in the package. It is JSON with a list of
        /// `{ name, sha256, size }` at `files` (see `manifest_files`).
        manifest: Option<Str> = "string", DefaultsTo("\"manifest.json\"");
        /// JSONPath of the manifest's file list.
        manifest_files: Option<Str> = "JSONPath", DefaultsTo("\"$.files[*]\"");
        /// Files every package must hold besides the manifest, whatever the manifest says.
        files: Option<Vec<Str>> = "list of strings", DefaultsTo("[]");
        /// Independently computed SHA-256 per file, e.g. `{ "output.bin" = "{{ vars.golden_sha256
        /// }}" }` for a deterministic output; templates read `{{ id }}` and `{{ key }}`. A file
        /// whose bytes do not hash to it is corrupt, whatever its manifest says.
        expected_sha256: Option<OrderedMap<Str>> = "table of file = template", DefaultsTo("{}");
        /// Only the jobs tracked by these checks (ids). Default: every check's.
        tests: Option<Vec<Str>> = "list of check ids", DefaultsTo("every check");
        /// A prefix under which every package must belong to a succeeded tracked job, e.g.
        /// `"runs/"`: a package there for no such job is an orphan. Only for a store this run
        /// owns alone.
        orphans: Option<Str> = "string", Optional;
        /// The largest manifest read into memory (a bigger one counts as corrupt). Content
        /// files are hashed as streams, whatever their size.
        max_manifest_bytes: Option<Spanned<i64>> = "integer > 0", DefaultsTo("4194304");
    }
}

raw_table! {
    /// `isolation = { ... }` in `[[verify]]` (the runbook's BUCKET): list everything in the
    /// places the app can write to, and fail on any object outside the allowed one, naming
    /// the object and the bucket that holds it.
    pub struct RawIsolation as "[[verify]] isolation" {
        /// The `[oracles.NAME]`: a `local` or `s3` oracle.
        oracle: Option<Str> = "string", Required;
        /// Where the app may write: `"bucket"` or `"bucket/prefix/"`.
        allowed: Option<Str> = "string", Required;
        /// Every bucket (or `bucket/prefix/`) the app can write to, listed in full.
        scan: Option<Vec<Str>> = "list of strings", Required;
        /// Pass only if the allowed place holds at least this many objects (so that an empty
        /// store, where nothing was written at all, is not a PASS by default).
        min_objects: Option<Spanned<i64>> = "integer >= 0", DefaultsTo("1");
    }
}

raw_table! {
    /// `store = { ... }` in `[[verify]]`: write `count` objects of `size` bytes under `prefix`,
    /// read each back and compare its SHA-256, then delete them; reports write and read
    /// latency.
    pub struct RawStoreProbe as "[[verify]] store" {
        /// The `[oracles.NAME]`: a `local` or `s3` oracle.
        oracle: Option<Str> = "string", Required;
        /// The bucket to write to.
        bucket: Option<Str> = "string", Required;
        /// Where the probe objects go; they are deleted afterwards.
        prefix: Option<Str> = "string", DefaultsTo("\"shakedown-probe/\"");
        /// How many objects.
        count: Option<Spanned<i64>> = "integer > 0", DefaultsTo("5");
        /// Size of each object in bytes (at most 64 MiB).
        size: Option<Spanned<i64>> = "integer > 0", DefaultsTo("65536");
    }
}

raw_table! {
    /// `canary = { ... }` in `[[verify]]`: `count` calls through the system to an external
    /// dependency (an LLM provider, a payment sandbox). Each must succeed and carry every
    /// provenance field in `record`; the fields in `unique` must differ between calls (a
    /// repeated request id means a cached or faked answer). The records go into the report.
    pub struct RawCanary as "[[verify]] canary" {
        /// `METHOD target:/path`; the path is a template.
        request: Option<Str> = "request line", Required;
        /// A request sent first, whose captures the request's templates read, e.g. to log in:
        /// `login = { request = "POST api:/auth/login", json = { ... }, capture = { token =
        /// "$.access_token" } }`, then `headers = { Authorization = "Bearer {{ token }}" }`.
        login: Option<Spanned<RawLogin>> = "table", Optional, nested(Table, &RawLogin::SCHEMA);
        /// Extra headers (templates), added to the target's.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// A JSON body, written as any TOML value; strings inside are templates.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// What must hold of each response, as in a step's `expect`. Default: any 2xx.
        expect: Option<Spanned<crate::scenarios::raw::RawExpect>> = "table", DefaultsTo("{ status = 2xx }"), nested(Table, &crate::scenarios::raw::RawExpect::SCHEMA);
        /// How many calls.
        count: Option<Spanned<i64>> = "integer > 0", DefaultsTo("3");
        /// Provenance fields to record: `{ request_id = "$.request_id", model = "$.model" }`.
        record: Option<OrderedMap<Str>> = "table of JSONPaths", Required;
        /// Recorded fields whose values must be unique over the calls.
        unique: Option<Vec<Str>> = "list of field names", DefaultsTo("[]");
    }
}

raw_table! {
    /// `login = { ... }` in an `http` or `canary` check: one request sent first (once per
    /// check), whose captures the check's own templates read.
    pub struct RawLogin as "[[verify]] login" {
        /// `METHOD target:/path`; the path is a template.
        request: Option<Str> = "request line", Required;
        /// Extra headers (templates), added to the target's.
        headers: Option<OrderedMap<Str>> = "table of templates", DefaultsTo("{}");
        /// A JSON body, written as any TOML value; strings inside are templates.
        json: Option<Spanned<toml::Value>> = "any value", Optional;
        /// Values to capture from the JSON response: `{ token = "$.access_token" }`.
        capture: Option<OrderedMap<Str>> = "table of JSONPaths", Required;
    }
}

/// Every table of this file, for `raw::ALL_TABLES`.
pub const TABLES: [&crate::schema::TableSchema; 11] = [
    &RawOracle::SCHEMA,
    &RawVerify::SCHEMA,
    &RawHttpProbe::SCHEMA,
    &RawSqlProbe::SCHEMA,
    &RawSqlLedger::SCHEMA,
    &RawRedisProbe::SCHEMA,
    &RawArtifacts::SCHEMA,
    &RawIsolation::SCHEMA,
    &RawStoreProbe::SCHEMA,
    &RawCanary::SCHEMA,
    &RawLogin::SCHEMA,
];
