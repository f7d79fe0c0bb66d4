//! The model of a target: its base URL, headers, probes, identity and control.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json_path::JsonPath;

use crate::model::{Method, StatusSet};
use crate::template::Template;

/// A named service under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in the plan (`[targets.NAME]`).
    pub name: String,
    /// Base URL, with `${ENV}` already interpolated; no trailing slash.
    pub base_url: String,
    /// Headers sent with every request to this target (templated, usually with secrets).
    pub headers: Vec<HeaderTemplate>,
    /// Health probe, checked at preflight.
    pub health: Option<Probe>,
    /// Extra preflight probes, typically to prove credentials work before any load.
    pub preflight: Vec<Probe>,
    /// Connect timeout for every connection to this target.
    pub connect_timeout: Duration,
    /// Timeout of a whole request to this target.
    pub request_timeout: Duration,
    /// Speak HTTP/2 to this target (prior knowledge on http).
    pub http2: bool,
    /// Secrets this target's headers and probes reference, for fix hints on 401/403.
    pub secrets_used: BTreeSet<String>,
    /// How to read what proves a restart of this target.
    pub identity: Option<crate::targets::model::IdentityProbe>,
    /// How shakedown controls this target for faults.
    pub control: Option<crate::targets::model::Control>,
}

/// A request header whose value is a template.
#[derive(Debug, Clone)]
pub struct HeaderTemplate {
    /// Header name.
    pub name: String,
    /// Header value template.
    pub value: Template,
}

/// A request the engine sends outside a scenario (health, preflight, samplers, track reads).
#[derive(Debug, Clone)]
pub struct Probe {
    /// HTTP method.
    pub method: Method,
    /// Path relative to the target's base URL (templated; may carry a query string).
    pub path: Template,
    /// Extra headers for this probe.
    pub headers: Vec<HeaderTemplate>,
    /// Statuses that count as success.
    pub expect_status: StatusSet,
}

/// How to read what proves a restart: a boot id, a PID, a deployment id.
#[derive(Debug, Clone)]
pub enum IdentityProbe {
    /// A JSONPath on an HTTP response.
    Request {
        /// The target the request goes to.
        target: String,
        /// The request.
        probe: Probe,
        /// The JSONPath as written.
        source: String,
        /// The compiled JSONPath; the first match is the identity.
        value: JsonPath,
    },
    /// A shell command whose trimmed standard output is the identity.
    Command {
        /// The command (run with `sh -c`).
        command: String,
        /// How long it may take.
        timeout: Duration,
    },
    /// A JSONPath on the first line a process-controlled target printed on stdout.
    Stdout {
        /// The JSONPath as written.
        source: String,
        /// The compiled JSONPath.
        value: JsonPath,
    },
}

/// How a target is controlled: its driver and the timeout of every driver call.
#[derive(Debug, Clone)]
pub struct Control {
    /// The driver and its settings.
    pub driver: DriverSpec,
    /// How long any one driver call may take before the check is BLOCKED.
    pub timeout: Duration,
}

/// The closed set of fault drivers.
#[derive(Debug, Clone)]
pub enum DriverSpec {
    /// shakedown starts and supervises a local process.
    Process(ProcessSpec),
    /// Shell commands per action.
    Exec(ExecSpec),
    /// HTTP requests per action (ops endpoints).
    Http(HttpSpec),
    /// The Railway GraphQL API.
    Railway(RailwaySpec),
}

impl DriverSpec {
    /// The driver's name as written in plans.
    pub fn name(&self) -> &'static str {
        match self {
            DriverSpec::Process(_) => "process",
            DriverSpec::Exec(_) => "exec",
            DriverSpec::Http(_) => "http",
            DriverSpec::Railway(_) => "railway",
        }
    }

    /// Whether the driver can perform `verb`.
    pub fn supports(&self, verb: ControlVerb) -> bool {
        match self {
            DriverSpec::Process(_) => true,
            DriverSpec::Exec(spec) => spec.commands.contains_key(&verb),
            DriverSpec::Http(spec) => spec.requests.contains_key(&verb),
            DriverSpec::Railway(_) => verb == ControlVerb::Restart,
        }
    }
}

/// The actions a driver may perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlVerb {
    /// Start the target.
    Start,
    /// Stop it gracefully.
    Stop,
    /// Send it a signal.
    Kill,
    /// Freeze it (SIGSTOP).
    Pause,
    /// Unfreeze it (SIGCONT).
    Resume,
    /// Stop and start it again.
    Restart,
}

impl ControlVerb {
    /// Every verb, in a stable order.
    pub const ALL: [ControlVerb; 6] = [
        ControlVerb::Start,
        ControlVerb::Stop,
        ControlVerb::Kill,
        ControlVerb::Pause,
        ControlVerb::Resume,
        ControlVerb::Restart,
    ];

    /// The verb as written in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlVerb::Start => "start",
            ControlVerb::Stop => "stop",
            ControlVerb::Kill => "kill",
            ControlVerb::Pause => "pause",
            ControlVerb::Resume => "resume",
            ControlVerb::Restart => "restart",
        }
    }

    /// The verb that undoes this one, if any: resume after pause, start after stop or kill.
    pub fn undo(self) -> Option<ControlVerb> {
        match self {
            ControlVerb::Pause => Some(ControlVerb::Resume),
            ControlVerb::Stop | ControlVerb::Kill => Some(ControlVerb::Start),
            ControlVerb::Start | ControlVerb::Resume | ControlVerb::Restart => None,
        }
    }
}

/// A process that shakedown starts before preflight and stops at the end.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Program and arguments, `${ENV}` already interpolated.
    pub command: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// When the started process counts as ready.
    pub ready: Readiness,
    /// How long the process may take to become ready.
    pub ready_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
    /// Whether `kill` and `stop` signal the whole process group, not only the main process.
    pub group: bool,
}

/// When a started process counts as ready (`ready = { ... }` of a `process` control).
#[derive(Debug, Clone)]
pub enum Readiness {
    /// An HTTP probe on the target that must answer 2xx (`probe`, or the target's health).
    Probe(Probe),
    /// A line on stdout or stderr matching this expression (`log`).
    Log(regex::Regex),
    /// A shell command that exits 0 (`command`).
    Command(String),
    /// Its first line on stdout (a target with neither HTTP health nor a `ready` form).
    FirstLine,
}

/// Shell commands per action.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// The command of each supported action (run with `sh -c`).
    pub commands: BTreeMap<ControlVerb, String>,
}

/// HTTP requests per action.
#[derive(Debug, Clone, Default)]
pub struct HttpSpec {
    /// The request of each supported action, with the target it goes to.
    pub requests: BTreeMap<ControlVerb, (String, Probe)>,
}

/// Which Railway mutation restarts the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RailwayMode {
    /// `deploymentRestart` on the latest deployment.
    Restart,
    /// `serviceInstanceRedeploy` of the service in the environment.
    Redeploy,
}

/// A service on Railway.
#[derive(Debug, Clone)]
pub struct RailwaySpec {
    /// The GraphQL endpoint.
    pub endpoint: String,
    /// The service id.
    pub service: String,
    /// The environment id.
    pub environment: String,
    /// The secret holding the API token.
    pub token_secret: String,
    /// That secret's environment variable, for hints.
    pub token_env: String,
    /// Restart or redeploy.
    pub mode: RailwayMode,
}
