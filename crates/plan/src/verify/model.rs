//! The validated oracles and verification checks (`[oracles.NAME]`, `[[verify]]`).

use std::time::Duration;

use serde_json_path::JsonPath;

use crate::expr::CmpOp;
use crate::model::Method;
use crate::scenarios::model::{Body, Expect};
use crate::targets::model::HeaderTemplate;
use crate::template::Template;

/// A store the gate reads directly.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// Its name in `[oracles.NAME]`.
    pub name: String,
    /// What it is and how to reach it.
    pub kind: OracleKind,
    /// Timeout of the connection and of each operation.
    pub timeout: Duration,
}

/// The kinds of oracle.
#[derive(Debug, Clone)]
pub enum OracleKind {
    /// A Postgres database; the URL is a template over secrets and vars.
    Postgres(Template),
    /// A Redis server; the URL is a template over secrets and vars.
    Redis(Template),
    /// A local directory holding one folder per bucket.
    Local(String),
    /// An S3-compatible endpoint.
    S3(S3Oracle),
}

impl OracleKind {
    /// The kind's name as written in the plan.
    pub fn name(&self) -> &'static str {
        match self {
            OracleKind::Postgres(_) => "postgres",
            OracleKind::Redis(_) => "redis",
            OracleKind::Local(_) => "local",
            OracleKind::S3(_) => "s3",
        }
    }
}

/// An S3 endpoint with its credentials.
#[derive(Debug, Clone)]
pub struct S3Oracle {
    /// The endpoint URL (a template).
    pub endpoint: Template,
    /// The region.
    pub region: String,
    /// The access key id (a template), if any.
    pub access_key: Option<Template>,
    /// The secret access key (a template), if any.
    pub secret_key: Option<Template>,
}

/// One `[[verify]]` check.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Short unique id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Whether the verdict depends on it.
    pub required: bool,
    /// What it does.
    pub probe: VerifyProbe,
}

impl Verification {
    /// The oracle it reads, if any.
    pub fn oracle(&self) -> Option<&str> {
        match &self.probe {
            VerifyProbe::Http(_) | VerifyProbe::Canary(_) => None,
            VerifyProbe::Sql(p) => Some(&p.oracle),
            VerifyProbe::Redis(p) => Some(&p.oracle),
            VerifyProbe::Artifacts(p) => Some(&p.oracle),
            VerifyProbe::Isolation(p) => Some(&p.oracle),
            VerifyProbe::Store(p) => Some(&p.oracle),
        }
    }

    /// The target it sends requests to, if any.
    pub fn target(&self) -> Option<&str> {
        match &self.probe {
            VerifyProbe::Http(p) => Some(&p.request.target),
            VerifyProbe::Canary(p) => Some(&p.request.target),
            _ => None,
        }
    }
}

/// The kinds of verification.
#[derive(Debug, Clone)]
pub enum VerifyProbe {
    /// One HTTP request, asserted.
    Http(HttpProbe),
    /// One SQL query, asserted.
    Sql(SqlProbe),
    /// One Redis read, asserted.
    Redis(RedisProbe),
    /// Every succeeded job's package (REP).
    Artifacts(ArtifactsProbe),
    /// Nothing outside the allowed place (BUCKET).
    Isolation(IsolationProbe),
    /// Storage write and read latency, and read-back integrity.
    Store(StoreProbe),
    /// Provenance of calls to an external dependency.
    Canary(CanaryProbe),
}

impl VerifyProbe {
    /// The kind's name as written in the plan (`http`, `sql`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyProbe::Http(_) => "http",
            VerifyProbe::Sql(_) => "sql",
            VerifyProbe::Redis(_) => "redis",
            VerifyProbe::Artifacts(_) => "artifacts",
            VerifyProbe::Isolation(_) => "isolation",
            VerifyProbe::Store(_) => "store",
            VerifyProbe::Canary(_) => "canary",
        }
    }
}

/// A single request to a target.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    /// Method.
    pub method: Method,
    /// Target name.
    pub target: String,
    /// Path template.
    pub path: Template,
    /// Extra headers.
    pub headers: Vec<HeaderTemplate>,
    /// Body.
    pub body: Option<Body>,
    /// What must hold of the response.
    pub expect: Expect,
}

/// A request sent before a check's own, whose captures its templates read.
#[derive(Debug, Clone)]
pub struct Login {
    /// The request (its expectations: any 2xx).
    pub request: ProbeRequest,
    /// What to capture from its JSON response.
    pub captures: Vec<crate::scenarios::model::Capture>,
}

/// `http = { ... }`.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    /// Sent first, if given.
    pub login: Option<Login>,
    /// The request and its expectations.
    pub request: ProbeRequest,
}

/// A number comparison written as `5` (equals) or `">= 1"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The operator.
    pub op: CmpOp,
    /// The right-hand side.
    pub value: f64,
}

impl Comparison {
    /// Whether `lhs` satisfies it.
    pub fn holds(&self, lhs: f64) -> bool {
        self.op.holds(lhs, self.value)
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

/// What a scalar must be: equal to a value, or a number comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpect {
    /// Equal to this JSON value (numbers compare by value).
    Equals(serde_json::Value),
    /// A number satisfying this comparison.
    Compare(Comparison),
}

/// `sql = { ... }`.
#[derive(Debug, Clone)]
pub struct SqlProbe {
    /// The oracle's name (a postgres oracle).
    pub oracle: String,
    /// The query.
    pub query: String,
    /// How many rows it must return.
    pub rows: Option<Comparison>,
    /// What the first column of the first row must be.
    pub scalar: Option<ScalarExpect>,
    /// The rows as the ledger's ground truth.
    pub ledger: Option<SqlLedger>,
}

/// Which columns identify a job, for `sql.ledger`.
#[derive(Debug, Clone)]
pub struct SqlLedger {
    /// The key column.
    pub key: String,
    /// The state column.
    pub state: String,
    /// The result-count column.
    pub results: Option<String>,
    /// Only the work tracked by these checks; empty means every check's.
    pub tests: Vec<String>,
}

/// What a Redis probe reads.
#[derive(Debug, Clone)]
pub enum RedisRead {
    /// GET key.
    Get(Template),
    /// EXISTS key.
    Exists(Template),
    /// TTL key.
    Ttl(Template),
    /// SCAN MATCH pattern.
    Scan(Template),
}

/// `redis = { ... }`.
#[derive(Debug, Clone)]
pub struct RedisProbe {
    /// The oracle's name (a redis oracle).
    pub oracle: String,
    /// What it reads.
    pub read: RedisRead,
    /// For `get`: the value it must equal.
    pub equals: Option<String>,
    /// For `get` of JSON: assertions (path source, path, expected value).
    pub json: Vec<(String, JsonPath, serde_json::Value)>,
    /// For `exists` and `get`: whether the key must exist.
    pub present: bool,
    /// For `ttl`: the comparison on the seconds left.
    pub seconds: Option<Comparison>,
    /// For `scan`: how many keys must match.
    pub count: Option<Comparison>,
}

/// `artifacts = { ... }`.
#[derive(Debug, Clone)]
pub struct ArtifactsProbe {
    /// The oracle's name (a local or s3 oracle).
    pub oracle: String,
    /// The bucket.
    pub bucket: String,
    /// The package prefix template (reads `id` and `key`).
    pub prefix: Template,
    /// The manifest's name in a package.
    pub manifest: String,
    /// The manifest's file list.
    pub manifest_files: JsonPath,
    /// Files every package must hold besides the manifest.
    pub files: Vec<String>,
    /// Independently computed SHA-256 per file (templates reading `id` and `key`).
    pub expected_sha256: Vec<(String, Template)>,
    /// Only these checks' jobs; empty means every check's.
    pub tests: Vec<String>,
    /// The prefix where every package must belong to a succeeded tracked job.
    pub orphans: Option<String>,
    /// The largest manifest read into memory.
    pub max_manifest_bytes: u64,
}

/// `isolation = { ... }`.
#[derive(Debug, Clone)]
pub struct IsolationProbe {
    /// The oracle's name.
    pub oracle: String,
    /// Where the app may write: bucket and prefix (possibly empty).
    pub allowed: (String, String),
    /// Every place listed: bucket and prefix.
    pub scan: Vec<(String, String)>,
    /// The allowed place must hold at least this many objects.
    pub min_objects: u64,
}

/// `store = { ... }`.
#[derive(Debug, Clone)]
pub struct StoreProbe {
    /// The oracle's name.
    pub oracle: String,
    /// The bucket written to.
    pub bucket: String,
    /// The prefix of the probe objects.
    pub prefix: String,
    /// How many objects.
    pub count: u32,
    /// Bytes per object.
    pub size: u64,
}

/// `canary = { ... }`.
#[derive(Debug, Clone)]
pub struct CanaryProbe {
    /// Sent first (once), if given.
    pub login: Option<Login>,
    /// The request and what must hold of each response.
    pub request: ProbeRequest,
    /// How many calls.
    pub count: u32,
    /// Provenance fields: name, JSONPath source, path.
    pub record: Vec<(String, String, JsonPath)>,
    /// Fields whose values must be unique over the calls.
    pub unique: Vec<String>,
}
