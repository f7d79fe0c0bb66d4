//! The validated, immutable plan. The engine only ever sees these types.
//!
//! Everything here has already been checked by `compile.rs`: targets referenced by steps exist,
//! templates parse and only use variables that will be defined, JSONPaths parse, thresholds parse,
//! and the mandatory bounds are present. Secret values live only in [`Secrets`], whose `Debug`
//! never prints them.

pub use crate::expr::CmpOp;
pub use crate::faults::model::*;
pub use crate::load::model::*;
pub use crate::load::model_open::*;
pub use crate::proxies::model::*;
pub use crate::scenarios::model::*;
pub use crate::streams::model::*;
pub use crate::targets::model::*;
pub use crate::verify::model::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A compiled plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's name, from `[plan] name`.
    pub name: String,
    /// Where the plan runs; fault injection against production needs an explicit flag.
    pub environment: Environment,
    /// The seed for every random choice (uuids in templates, schedules, fault selection).
    pub seed: u64,
    /// Hard bounds the engine enforces on the whole run.
    pub limits: Limits,
    /// How long, and how often, the settle phase polls tracked work.
    pub settle: Settle,
    /// Secret values taken from the environment. Never written to any output.
    pub secrets: Secrets,
    /// Plain values available to templates as `{{ vars.NAME }}`.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// What `validate` warns about (rendered, secrets redacted): legal, but probably not meant,
    /// such as a test with no threshold or a `[vars]` entry nothing reads.
    pub warnings: Vec<String>,
    /// Named services under test.
    pub targets: BTreeMap<String, Target>,
    /// Named journeys.
    pub scenarios: BTreeMap<String, Scenario>,
    /// Load tests, in the order they run.
    pub load_tests: Vec<LoadTest>,
    /// Fault tests (run after the load tests) and stop conditions.
    pub faults: crate::faults::model::FaultPlan,
    /// What the evidence bundle may record about the machine.
    pub evidence: Evidence,
    /// Fault proxies, by name (`[proxies.NAME]`).
    pub proxies: BTreeMap<String, crate::proxies::model::ProxySpec>,
    /// Oracles by name: stores the verification checks read directly.
    pub oracles: BTreeMap<String, crate::verify::model::Oracle>,
    /// Verification checks, in plan order, run after settle.
    pub verifications: Vec<crate::verify::model::Verification>,
    /// The file the plan came from.
    pub source: PathBuf,
    /// The plan file's text with every secret value redacted: the "effective plan" of the
    /// evidence bundle.
    pub redacted_source: String,
}

/// What the evidence bundle may record about the machine that ran the gate (`[evidence]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Record the hostname in `manifest.json`'s environment fingerprint.
    pub hostname: bool,
}

/// The environment a plan targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer machine or CI runner.
    Local,
    /// A staging deployment.
    Staging,
    /// Production: faults need `--allow-production`.
    Production,
}

/// The run's hard bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Maximum wall time of the whole run.
    pub duration: Duration,
    /// Maximum number of requests the run sends, over all tests.
    pub requests: u64,
    /// Maximum request rate per second over all tests, if set.
    pub rate: Option<f64>,
}

/// Settle-phase configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settle {
    /// How long to wait for every tracked unit of work to reach a terminal state.
    pub timeout: Duration,
    /// Pause between polling rounds.
    pub interval: Duration,
    /// How the ledger reads tracked work during the run, before settle.
    pub watch: Watch,
}

/// The ledger's reads of tracked work during the run (`[settle.watch]`): they make time to
/// terminal a measured figure and let a brief state regression be seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    /// Whether the ledger reads tracked keys during the run at all.
    pub enabled: bool,
    /// Pause between two reads of one key.
    pub interval: Duration,
    /// How long a key seen terminal is read again, to catch a brief regression.
    pub confirm: Duration,
    /// Reads may be at most this share of the requests the load has sent so far.
    pub share: f64,
    /// At most this many reads per second.
    pub max_rate: f64,
}

impl Watch {
    /// The defaults, reading every `interval` (the settle interval unless the plan says).
    pub fn every(interval: Duration) -> Watch {
        Watch {
            enabled: true,
            interval,
            confirm: Duration::from_secs(1),
            share: 0.5,
            max_rate: 200.0,
        }
    }
}

/// Secret values by name. `Debug` prints names only.
#[derive(Clone, Default)]
pub struct Secrets {
    /// name -> (environment variable, value).
    pub values: BTreeMap<String, SecretValue>,
    /// Passwords found in the userinfo of target URLs (`http://user:password@host`), by a name
    /// such as `url_password_api`: redacted like secrets (a server may echo the `Basic` header
    /// made from them), but not readable by templates.
    pub url_passwords: BTreeMap<String, String>,
}

/// One secret: where it came from and its value.
#[derive(Clone)]
pub struct SecretValue {
    /// The environment variable it was read from.
    pub env: String,
    /// The value. Never print it.
    pub value: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.values
                    .iter()
                    .map(|(k, v)| (k, format!("<redacted from ${}>", v.env))),
            )
            .entries(
                self.url_passwords
                    .keys()
                    .map(|k| (k, "<redacted from a target URL>".to_string())),
            )
            .finish()
    }
}

impl Secrets {
    /// Every secret value, for redaction. Empty values are skipped: they would match everything.
    pub fn redaction_values(&self) -> Vec<&str> {
        self.values
            .values()
            .map(|v| v.value.as_str())
            .chain(self.url_passwords.values().map(String::as_str))
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The environment variable a secret is read from, for fix hints.
    pub fn env_of(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.env.as_str())
    }
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    /// The method as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// A set of acceptable HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSet {
    /// Any 2xx.
    Success,
    /// Exactly these codes.
    Codes(BTreeSet<u16>),
}

impl StatusSet {
    /// Whether `code` is acceptable.
    pub fn contains(&self, code: u16) -> bool {
        match self {
            StatusSet::Success => (200..300).contains(&code),
            StatusSet::Codes(codes) => codes.contains(&code),
        }
    }
}

/// Ledger classes usable in thresholds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LedgerClass {
    /// Acknowledged, terminal and successful.
    Ok,
    /// Acknowledged, gone at the end.
    Lost,
    /// One key produced two jobs, or one job two results.
    Duplicates,
    /// Exists, not terminal after settle.
    Stuck,
    /// Could not be decided.
    Unknown,
    /// Terminal in a failure state (the job ran and failed).
    Failed,
    /// Indeterminate submit (5xx, reset, timeout), found later; then checked like an acked one.
    Recovered,
    /// Indeterminate submit, absent after a complete settle.
    NotApplied,
    /// Definitely rejected, and absent at the end, as expected.
    Rejected,
    /// Definitely rejected, yet it exists.
    Resurrected,
    /// A read saw the job terminal, and a later read saw it non-terminal again.
    StateRegression,
    /// Reads saw the job in two different terminal states, or two jobs of the key ended in
    /// different terminal states.
    ConflictingTerminal,
    /// Terminal, but later than the track's `objective` after the submit.
    Slow,
    /// One job seen under two or more keys, or a job whose own key (`track.key_field`) is not
    /// the key it was read for: the mapping from keys to jobs is not one-to-one.
    Collision,
    /// Indeterminate submit whose replay (`track.resolve = "replay"`) created the job: the first
    /// attempt had left nothing. Then checked like an acknowledged one.
    ReplayCreated,
}
