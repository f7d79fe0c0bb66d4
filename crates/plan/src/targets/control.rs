//! Compiling a target's `identity` (what proves a restart) and `control` (its fault driver).
//! Keys that belong to another driver are errors, so that a misplaced key is never ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::model::StatusSet;
use crate::raw::Str;
use crate::request_line::Form;
use crate::scope::Scope;
use crate::targets::model::Probe;
use crate::targets::model::{
    Control, ControlVerb, DriverSpec, ExecSpec, HttpSpec, IdentityProbe, ProcessSpec, RailwayMode,
    RailwaySpec, Readiness,
};
use crate::targets::raw::{RawControl, RawIdentity, RawReady, RawTarget};

/// A request line written with a target (`GET ops:/x`) rather than a bare path (`GET /x`).
fn is_targeted(line: &str) -> bool {
    line.split_whitespace()
        .nth(1)
        .is_some_and(|rest| !rest.starts_with('/'))
}

impl Compiler<'_> {
    /// The target's identity and control; `Some((None, None))` when it declares neither.
    pub(crate) fn target_control(
        &mut self,
        name: &str,
        raw: &RawTarget,
        health: Option<&Probe>,
    ) -> Option<(Option<IdentityProbe>, Option<Control>)> {
        let identity = match &raw.identity {
            Some(identity) => self.identity(name, identity).map(Some),
            None => Some(None),
        };
        let control = match &raw.control {
            Some(control) => self
                .control(name, control, health, raw.url.is_some())
                .map(Some),
            None => Some(None),
        };
        Some((identity?, control?))
    }

    fn path_probe(&mut self, line: &Str, target: &str, what: &str) -> Option<(String, Probe)> {
        let form = if is_targeted(line.get_ref()) {
            Form::Targeted
        } else {
            Form::PathOnly
        };
        let request = self.request(line, form, what, &Scope::default())?;
        Some((
            request.target.unwrap_or_else(|| target.to_string()),
            Probe {
                method: request.method,
                path: request.path,
                headers: Vec::new(),
                expect_status: StatusSet::Success,
            },
        ))
    }

    fn identity(&mut self, name: &str, raw: &Spanned<RawIdentity>) -> Option<IdentityProbe> {
        let what = format!("the identity of target `{name}`");
        let r = raw.get_ref();
        let timeout = self.duration(r.timeout.as_ref(), "5s", &format!("`timeout` of {what}"));
        match (&r.request, &r.command, &r.stdout) {
            (Some(request), None, None) => {
                let Some(value) = &r.value else {
                    self.push(
                        Diagnostic::new(
                            Some(raw.span()),
                            format!("{what} has a `request` but no `value`"),
                        )
                        .label("`value` is required with `request`")
                        .hint("identity = { request = \"GET /health\", value = \"$.boot_id\" }"),
                    );
                    return None;
                };
                let probe = self.path_probe(request, name, &what);
                let value = self.jsonpath(value, &what);
                let ((target, probe), (source, value)) = (probe?, value?);
                Some(IdentityProbe::Request {
                    target,
                    probe,
                    source,
                    value,
                })
            }
            (None, Some(command), None) => {
                let command = self.text(command, &what)?;
                Some(IdentityProbe::Command {
                    command: command.value,
                    timeout: timeout?,
                })
            }
            (None, None, Some(stdout)) => {
                let (source, value) = self.jsonpath(stdout, &what)?;
                Some(IdentityProbe::Stdout { source, value })
            }
            _ => {
                self.push(
                    Diagnostic::new(Some(raw.span()), format!("{what} needs exactly one of `request`, `command` and `stdout`"))
                        .label("one way to read the identity")
                        .hint("identity = { request = \"GET /health\", value = \"$.boot_id\" }, { command = \"...\" } or { stdout = \"$.boot_id\" }"),
                );
                None
            }
        }
    }

    fn control(
        &mut self,
        name: &str,
        raw: &Spanned<RawControl>,
        health: Option<&Probe>,
        has_url: bool,
    ) -> Option<Control> {
        let what = format!("the control of target `{name}`");
        let r = raw.get_ref();
        let timeout = self.duration(r.timeout.as_ref(), "30s", &format!("`timeout` of {what}"));
        let Some(driver) = &r.driver else {
            self.push(
                Diagnostic::new(Some(raw.span()), format!("{what} has no `driver`"))
                    .label("`driver` is required here")
                    .hint("driver is one of: process, exec, http, railway"),
            );
            return None;
        };
        let driver_text = self.text(driver, &what)?;
        let verbs: BTreeMap<ControlVerb, &Str> = ControlVerb::ALL
            .into_iter()
            .filter_map(|verb| {
                let value = match verb {
                    ControlVerb::Start => &r.start,
                    ControlVerb::Stop => &r.stop,
                    ControlVerb::Kill => &r.kill,
                    ControlVerb::Pause => &r.pause,
                    ControlVerb::Resume => &r.resume,
                    ControlVerb::Restart => &r.restart,
                };
                value.as_ref().map(|v| (verb, v))
            })
            .collect();
        let process_keys = [
            ("command", r.command.is_some()),
            ("env", r.env.is_some()),
            ("cwd", r.cwd.is_some()),
            ("ready", r.ready.is_some()),
            ("grace", r.grace.is_some()),
            ("group", r.group.is_some()),
        ];
        let railway_keys = [
            ("service", r.service.is_some()),
            ("environment", r.environment.is_some()),
            ("token", r.token.is_some()),
            ("endpoint", r.endpoint.is_some()),
            ("mode", r.mode.is_some()),
        ];
        let verb_keys: Vec<(&str, bool)> = verbs.keys().map(|v| (v.as_str(), true)).collect();
        let driver_name = driver_text.value.as_str();
        let foreign: Vec<&str> = match driver_name {
            "process" => railway_keys
                .iter()
                .chain(verb_keys.iter())
                .collect::<Vec<_>>(),
            "exec" | "http" => railway_keys.iter().chain(process_keys.iter()).collect(),
            "railway" => process_keys.iter().chain(verb_keys.iter()).collect(),
            _ => Vec::new(),
        }
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| *key)
        .collect();
        if !foreign.is_empty() {
            self.push(
                Diagnostic::new(Some(raw.span()), format!("{what} uses the {driver_name} driver, which does not take {}", foreign.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")))
                    .label("keys of another driver")
                    .hint("process takes command, env, cwd, ready, grace, group; exec and http take start, stop, kill, pause, resume, restart; railway takes service, environment, token, endpoint, mode"),
            );
            return None;
        }
        let driver = match driver_name {
            "process" => self
                .process_driver(name, r, &what, health, has_url)
                .map(DriverSpec::Process),
            "exec" => {
                let mut commands = BTreeMap::new();
                for (verb, command) in &verbs {
                    commands.insert(*verb, self.text(command, &what)?.value);
                }
                self.some_verbs(
                    commands.is_empty(),
                    raw,
                    &what,
                    "exec",
                    "pause = \"kill -STOP $(cat app.pid)\"",
                )?;
                Some(DriverSpec::Exec(ExecSpec { commands }))
            }
            "http" => {
                let mut requests = BTreeMap::new();
                for (verb, line) in &verbs {
                    let request = self.request(line, Form::Targeted, &what, &Scope::default())?;
                    let probe = Probe {
                        method: request.method,
                        path: request.path,
                        headers: Vec::new(),
                        expect_status: StatusSet::Success,
                    };
                    requests.insert(*verb, (request.target?, probe));
                }
                self.some_verbs(
                    requests.is_empty(),
                    raw,
                    &what,
                    "http",
                    "restart = \"POST ops:/ops/restart\"",
                )?;
                Some(DriverSpec::Http(HttpSpec { requests }))
            }
            "railway" => self.railway_driver(r, raw, &what).map(DriverSpec::Railway),
            other => {
                self.push(
                    Diagnostic::new(
                        Some(driver_text.span),
                        format!("`{other}` is not a fault driver"),
                    )
                    .label("unknown driver")
                    .hint("driver is one of: process, exec, http, railway"),
                );
                None
            }
        };
        Some(Control {
            driver: driver?,
            timeout: timeout?,
        })
    }

    fn some_verbs(
        &mut self,
        empty: bool,
        raw: &Spanned<RawControl>,
        what: &str,
        driver: &str,
        example: &str,
    ) -> Option<()> {
        if empty {
            self.push(
                Diagnostic::new(
                    Some(raw.span()),
                    format!("{what} uses the {driver} driver but names no action"),
                )
                .label("no action")
                .hint(format!("give it the actions faults use, e.g. {example}")),
            );
            return None;
        }
        Some(())
    }

    fn process_driver(
        &mut self,
        name: &str,
        r: &RawControl,
        what: &str,
        health: Option<&Probe>,
        has_url: bool,
    ) -> Option<ProcessSpec> {
        let mut command = Some(Vec::new());
        for arg in r.command.iter().flatten() {
            match (self.text(arg, what), command.as_mut()) {
                (Some(text), Some(list)) => list.push(text.value),
                _ => command = None,
            }
        }
        if command.as_ref().is_some_and(Vec::is_empty) {
            self.push(
                Diagnostic::new(
                    self.locator
                        .key_span(&crate::compile::key_path!["targets", name, "control"]),
                    format!("{what} uses the process driver but has no `command`"),
                )
                .label("`command` is required here")
                .hint("command = [\"/path/to/app\", \"--port\", \"${PORT}\"]"),
            );
            command = None;
        }
        let mut env = Some(Vec::new());
        for (key, value) in r.env.as_ref().map(|e| e.0.as_slice()).unwrap_or_default() {
            match (self.text(value, what), env.as_mut()) {
                (Some(text), Some(list)) => list.push((key.clone(), text.value)),
                _ => env = None,
            }
        }
        let cwd = r
            .cwd
            .as_ref()
            .map(|cwd| self.text(cwd, what).map(|t| PathBuf::from(t.value)));
        let ready_raw = r.ready.as_ref().map(|r| r.get_ref());
        let ready = self.readiness(ready_raw, health.filter(|_| has_url), what);
        let ready_timeout = self.duration(
            ready_raw.and_then(|r| r.timeout.as_ref()),
            "30s",
            &format!("`ready.timeout` of {what}"),
        );
        let grace = self.duration(r.grace.as_ref(), "5s", &format!("`grace` of {what}"));
        Some(ProcessSpec {
            command: command?,
            env: env?,
            cwd: match cwd {
                Some(c) => Some(c?),
                None => None,
            },
            ready: ready?,
            ready_timeout: ready_timeout?,
            grace: grace?,
            group: r.group.unwrap_or(true),
        })
    }

    /// The `ready` form of a `process` control: at most one of `probe`, `log` and `command`;
    /// without one, the target's HTTP health, or else its first line on stdout.
    fn readiness(
        &mut self,
        raw: Option<&RawReady>,
        health: Option<&Probe>,
        what: &str,
    ) -> Option<Readiness> {
        let Some(raw) = raw else {
            return Some(
                health
                    .cloned()
                    .map_or(Readiness::FirstLine, Readiness::Probe),
            );
        };
        let given: Vec<&Str> = [&raw.probe, &raw.log, &raw.command]
            .into_iter()
            .flatten()
            .collect();
        if let [_, second, ..] = given.as_slice() {
            self.push(
                Diagnostic::new(
                    Some(second.span()),
                    format!("`ready` of {what} has more than one of `probe`, `log` and `command`"),
                )
                .label("a second readiness form")
                .hint("keep one: an HTTP probe, a log line (`log = \"regex\"`) or a command that exits 0"),
            );
            return None;
        }
        if let Some(line) = &raw.probe {
            let request = self.request(line, Form::PathOnly, what, &Scope::default())?;
            return Some(Readiness::Probe(Probe {
                method: request.method,
                path: request.path,
                headers: Vec::new(),
                expect_status: StatusSet::Success,
            }));
        }
        if let Some(log) = &raw.log {
            let text = self.text(log, &format!("`ready.log` of {what}"))?;
            return match regex::Regex::new(&text.value) {
                Ok(regex) => Some(Readiness::Log(regex)),
                Err(e) => {
                    self.push(
                        Diagnostic::new(
                            Some(text.span),
                            format!("`ready.log` of {what} is not a valid regular expression"),
                        )
                        .label(regex_error(&e))
                        .hint("write a regular expression (Rust `regex` syntax), e.g. `log = \"celery@\\\\S+ ready\"`; escape `.` `(` `[` as `\\\\.`"),
                    );
                    None
                }
            };
        }
        if let Some(command) = &raw.command {
            let text = self.text(command, &format!("`ready.command` of {what}"))?;
            return Some(Readiness::Command(text.value));
        }
        Some(
            health
                .cloned()
                .map_or(Readiness::FirstLine, Readiness::Probe),
        )
    }

    fn railway_driver(
        &mut self,
        r: &RawControl,
        raw: &Spanned<RawControl>,
        what: &str,
    ) -> Option<RailwaySpec> {
        let required = |cx: &mut Self, value: &Option<Str>, key: &str, example: &str| match value {
            Some(v) => cx.text(v, what).map(|t| t.value),
            None => {
                cx.push(
                    Diagnostic::new(
                        Some(raw.span()),
                        format!("{what} uses the railway driver but has no `{key}`"),
                    )
                    .label(format!("`{key}` is required here"))
                    .hint(format!("{key} = {example}")),
                );
                None
            }
        };
        let service = required(self, &r.service, "service", "\"${RAILWAY_API_SERVICE_ID}\"");
        let environment = required(
            self,
            &r.environment,
            "environment",
            "\"${RAILWAY_ENVIRONMENT_ID}\"",
        );
        let token = required(
            self,
            &r.token,
            "token",
            "\"railway_token\" (a [secrets] entry)",
        );
        let endpoint = match &r.endpoint {
            Some(e) => self.text(e, what).map(|t| t.value),
            None => Some("https://backboard.railway.app/graphql/v2".to_string()),
        };
        let mode = match &r.mode {
            None => Some(RailwayMode::Restart),
            Some(m) => {
                let text = self.text(m, what)?;
                match text.value.as_str() {
                    "restart" => Some(RailwayMode::Restart),
                    "redeploy" => Some(RailwayMode::Redeploy),
                    other => {
                        self.push(
                            Diagnostic::new(Some(text.span), format!("`{other}` is not a railway mode"))
                                .label("unknown mode")
                                .hint("mode is `restart` (deploymentRestart) or `redeploy` (serviceInstanceRedeploy)"),
                        );
                        None
                    }
                }
            }
        };
        let token = token?;
        let Some(decl) = self.secrets.get(&token) else {
            let span = r.token.as_ref().map(|t| t.span());
            self.push(
                Diagnostic::new(
                    span,
                    format!(
                        "{what} reads its token from the secret `{token}`, which is not declared"
                    ),
                )
                .label("unknown secret")
                .hint(format!(
                    "declare it: [secrets] {token} = {{ env = \"RAILWAY_TOKEN\" }}"
                )),
            );
            return None;
        };
        let token_env = decl.env.value.clone();
        Some(RailwaySpec {
            endpoint: endpoint?,
            service: service?,
            environment: environment?,
            token_secret: token,
            token_env,
            mode: mode?,
        })
    }
}

/// The last line of a regex compile error: what is wrong, without the echoed pattern.
fn regex_error(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid")
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}
