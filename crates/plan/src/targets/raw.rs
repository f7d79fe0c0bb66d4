//! The raw `[targets.NAME]` tables: a target, its probes, its identity and its control.
//!
//! Like every raw table, nothing here is validated beyond TOML types, and the `///` comment on
//! each field is the plan reference.

use toml::Spanned;

use crate::raw::Str;
use crate::raw_forms::{OrderedMap, ProbeForm, StatusForm};
use crate::schema::Presence::{DefaultsTo, Optional, Required};
use crate::schema::Shape::{ListOfTables, Table};
use crate::schema::{nested, raw_table};

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
        identity: Option<Spanned<crate::targets::raw::RawIdentity>> = "table", Optional, nested(Table, &crate::targets::raw::RawIdentity::SCHEMA);
        /// How shakedown controls the target for faults (see `[targets.NAME] control`).
        control: Option<Spanned<crate::targets::raw::RawControl>> = "table", Optional, nested(Table, &crate::targets::raw::RawControl::SCHEMA);
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
    /// `identity = { ... }` on a target: how to read what proves a restart (a boot id, a PID, a
    /// deployment id). Exactly one of `request` (with `value`), `command` or `stdout`. Without
    /// it, the driver's own identity is used (a process's PID, a Railway deployment id).
    pub struct RawIdentity as "[targets.NAME] identity" {
        /// `METHOD /path` on this target, or `METHOD target:/path`, e.g. `"GET /health"`.
        request: Option<Str> = "request line", Optional;
        /// JSONPath of the identity in the response of `request`, e.g. `"$.boot_id"`.
        value: Option<Str> = "JSONPath", Optional;
        /// A shell command whose trimmed output is the identity, e.g.
        /// `"docker inspect -f '{{.State.StartedAt}}' api"`.
        command: Option<Str> = "string", Optional;
        /// A JSONPath on the first line a `process` target printed on stdout, e.g.
        /// `"$.boot_id"`.
        stdout: Option<Str> = "JSONPath", Optional;
        /// How long reading the identity may take.
        timeout: Option<Str> = "duration", DefaultsTo("\"5s\"");
    }
}

raw_table! {
    /// `control = { driver = "...", ... }` on a target: how shakedown starts, stops, kills,
    /// pauses and restarts it. Which keys apply depends on the driver: `process` takes
    /// `command`, `env`, `cwd`, `ready`, `grace`, `group`; `exec` takes a shell command per action;
    /// `http` takes a request line per action; `railway` takes `service`, `environment`,
    /// `token`, `endpoint` and `mode`.
    pub struct RawControl as "[targets.NAME] control" {
        /// `process`, `exec`, `http` or `railway`.
        driver: Option<Str> = "string", Required;
        /// `process`: the program and its arguments, e.g.
        /// `["${APP_BIN}", "serve", "--port", "${PORT}"]` (`${ENV}` is interpolated).
        command: Option<Vec<Str>> = "list of strings", Optional;
        /// `process`: extra environment variables for the process; one whose value is empty is
        /// removed from its environment (so `"${OPTIONAL:-}"` leaves it unset).
        env: Option<OrderedMap<Str>> = "table of strings", DefaultsTo("{}");
        /// `process`: the working directory.
        cwd: Option<Str> = "string", Optional;
        /// `process`: when the started process counts as ready.
        ready: Option<Spanned<RawReady>> = "table", DefaultsTo("{ timeout = \"30s\" }"), nested(Table, &RawReady::SCHEMA);
        /// `process`: time between SIGTERM and SIGKILL when stopping.
        grace: Option<Str> = "duration", DefaultsTo("\"5s\"");
        /// `process`: whether `kill` and `stop` signal the whole process group (the driver
        /// starts each target in a group of its own), so children such as a pre-fork server's
        /// workers die with it. `false` signals only the main process, and children it leaves
        /// behind are reported.
        group: Option<bool> = "boolean", DefaultsTo("true");
        /// `exec`: shell command; `http`: request line (`POST ops:/path`). Starts the target.
        start: Option<Str> = "string", Optional;
        /// `exec` / `http`: stops the target.
        stop: Option<Str> = "string", Optional;
        /// `exec` / `http`: sends a signal; `exec` gets its name in `$SHAKEDOWN_SIGNAL`.
        kill: Option<Str> = "string", Optional;
        /// `exec` / `http`: freezes the target.
        pause: Option<Str> = "string", Optional;
        /// `exec` / `http`: unfreezes it (the revert of `pause`).
        resume: Option<Str> = "string", Optional;
        /// `exec` / `http`: restarts the target.
        restart: Option<Str> = "string", Optional;
        /// `railway`: the service id, usually `"${RAILWAY_API_SERVICE_ID}"`.
        service: Option<Str> = "string", Optional;
        /// `railway`: the environment id.
        environment: Option<Str> = "string", Optional;
        /// `railway`: the name of the `[secrets]` entry holding the API token.
        token: Option<Str> = "string (secret name)", Optional;
        /// `railway`: the GraphQL endpoint.
        endpoint: Option<Str> = "string (URL)", DefaultsTo("\"https://backboard.railway.app/graphql/v2\"");
        /// `railway`: `restart` (`deploymentRestart` of the latest deployment) or `redeploy`
        /// (`serviceInstanceRedeploy`).
        mode: Option<Str> = "string", DefaultsTo("\"restart\"");
        /// How long any one driver call may take; a call that fails or hangs makes the fault
        /// check BLOCKED.
        timeout: Option<Str> = "duration", DefaultsTo("\"30s\"");
    }
}

raw_table! {
    /// `ready = { ... }` in a `process` control.
    pub struct RawReady as "control ready" {
        /// `METHOD /path` on the target that must answer 2xx. Default: the target's health
        /// probe; a target without one is ready when it prints its first line on stdout.
        probe: Option<Str> = "request line", Optional;
        /// A regular expression: the process is ready when a line it prints on stdout or
        /// stderr matches, e.g. `"celery@\\S+ ready"`. Checked on every line since the last
        /// start, so a restarted worker is ready only when it says so again. A target without
        /// HTTP that has it uses the same form as its health in recovery probes.
        log: Option<Str> = "regex", Optional;
        /// A shell command (`sh -c`, with the process's `env` and `cwd`) that exits 0 when the
        /// process is ready, e.g. `"celery -A app inspect ping -d celery@$HOSTNAME"`. Each try
        /// may take up to 10 s. A target without HTTP that has it runs it as its health in
        /// recovery probes.
        command: Option<Str> = "string", Optional;
        /// How long the process may take to become ready.
        timeout: Option<Str> = "duration", DefaultsTo("\"30s\"");
    }
}
