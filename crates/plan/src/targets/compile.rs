//! Compiling `[targets.NAME]`, and the pieces that every request shares: headers, statuses,
//! request lines, target references and JSONPaths.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde_json_path::JsonPath;
use toml::Spanned;

use crate::compile::{Compiler, is_plain_name, key_path};
use crate::diagnostics::Diagnostic;
use crate::interpolate::Text;
use crate::model::{Method, StatusSet};
use crate::raw::{RawPlanFile, Str};
use crate::raw_forms::{OrderedMap, ProbeForm, StatusForm};
use crate::request_line::{Form, method_names, parse_request_line};
use crate::scope::Scope;
use crate::targets::model::{HeaderTemplate, Probe, Target};
use crate::targets::raw::RawTarget;
use crate::template::Template;

/// The secrets a template reads (`secrets.NAME`).
pub(crate) fn secrets_of(template: &Template) -> impl Iterator<Item = String> {
    template.variables().into_iter().filter_map(|v| {
        v.strip_prefix("secrets.")
            .map(|rest| rest.split('.').next().unwrap_or_default().to_string())
    })
}

/// A request line, compiled: method, target (for the targeted form) and path template.
pub(crate) struct CompiledRequest {
    pub method: Method,
    pub target: Option<String>,
    pub path: Template,
}

impl Compiler<'_> {
    pub(crate) fn targets(&mut self, raw: &RawPlanFile) -> BTreeMap<String, Target> {
        let Some(targets) = &raw.targets else {
            return BTreeMap::new();
        };
        for name in targets.keys() {
            if is_plain_name(name) {
                self.targets.insert(name.clone());
            } else {
                let span = self.locator.key_span(&key_path!["targets", name]);
                self.push(
                    Diagnostic::new(span, format!("`{name}` is not a valid target name"))
                        .label("invalid name")
                        .hint("target names are letters, digits, `_`, `-` and `.`, because requests write them as `METHOD name:/path`"),
                );
            }
        }
        let mut out = BTreeMap::new();
        for (name, target) in targets {
            if let Some(t) = self.target(name, target) {
                out.insert(name.clone(), t);
            }
        }
        out
    }

    fn target(&mut self, name: &str, raw: &RawTarget) -> Option<Target> {
        let base_url = match &raw.url {
            Some(url) => self.base_url(url, name),
            // A controlled target (a worker) may have no HTTP interface.
            None if raw.control.is_some() && raw.health.is_none() && raw.preflight.is_none() => {
                Some(String::new())
            }
            None => {
                self.missing(
                    &key_path!["targets", name],
                    "url",
                    format!(
                        "give the target a base URL: url = \"${{{}_URL:-http://127.0.0.1:8080}}\"",
                        name.to_ascii_uppercase()
                    ),
                );
                None
            }
        };
        let scope = Scope::default();
        let headers = self.headers(
            raw.headers.as_ref(),
            &format!("the headers of target `{name}`"),
            &scope,
        );
        let health = match &raw.health {
            Some(p) => self
                .probe(p, &format!("the health probe of target `{name}`"))
                .map(Some),
            None => Some(None),
        };
        let mut preflight = Some(Vec::new());
        for (i, p) in raw.preflight.iter().flatten().enumerate() {
            match (
                self.probe(p, &format!("preflight probe {i} of target `{name}`")),
                preflight.as_mut(),
            ) {
                (Some(probe), Some(list)) => list.push(probe),
                _ => preflight = None,
            }
        }
        let connect_timeout = self.duration(
            raw.connect_timeout.as_ref(),
            "5s",
            &format!("`connect_timeout` of target `{name}`"),
        );
        let request_timeout = self.duration(
            raw.timeout.as_ref(),
            "30s",
            &format!("`timeout` of target `{name}`"),
        );
        let fault_parts = self.target_control(name, raw, health.as_ref().and_then(Option::as_ref));
        let (headers, health, preflight) = (headers?, health?, preflight?);
        let (identity, control) = fault_parts?;
        let mut secrets_used = BTreeSet::new();
        let probes = health.iter().chain(preflight.iter());
        for template in headers.iter().map(|h| &h.value).chain(
            probes.flat_map(|p| std::iter::once(&p.path).chain(p.headers.iter().map(|h| &h.value))),
        ) {
            secrets_used.extend(secrets_of(template));
        }
        Some(Target {
            name: name.to_string(),
            base_url: base_url?,
            headers,
            health,
            preflight,
            connect_timeout: connect_timeout?,
            request_timeout: request_timeout?,
            http2: raw.http2.unwrap_or(false),
            secrets_used,
            identity,
            control,
        })
    }

    fn base_url(&mut self, url: &Str, name: &str) -> Option<String> {
        let text = self.text(url, &format!("the url of target `{name}`"))?;
        let value = text.value.trim();
        // A proxy's address is known once it listens: validate with a sample in its place.
        let problem = match reqwest::Url::parse(&crate::proxies::addr::with_sample_addresses(value))
        {
            Err(err) => Some(format!("`{value}` is not a valid URL: {err}")),
            Ok(u) if u.scheme() != "http" && u.scheme() != "https" => Some(format!(
                "`{value}` uses `{}`; a target is http or https",
                u.scheme()
            )),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                Some(format!("`{value}` has no host"))
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() => Some(format!(
                "`{value}` has a query or fragment; a base URL cannot"
            )),
            Ok(_) => None,
        };
        if let Some(message) = problem {
            self.push(
                Diagnostic::new(Some(text.span), format!("invalid url for target `{name}`: {message}"))
                    .label("invalid base URL")
                    .hint("write an http or https URL with a host, e.g. \"http://127.0.0.1:8080\" or \"https://api.example.com/v1\""),
            );
            return None;
        }
        self.url_password(url, &text, name);
        Some(value.trim_end_matches('/').to_string())
    }

    /// Keep the password of a URL's userinfo for redaction (it is sent as a `Basic` header, which
    /// a server may echo), and warn when the plan spells it out instead of reading a secret.
    fn url_password(&mut self, url: &Str, text: &Text, name: &str) {
        let Ok(parsed) = reqwest::Url::parse(text.value.trim()) else {
            return;
        };
        let Some(password) = parsed.password() else {
            return;
        };
        let decoded = percent_encoding::percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned();
        self.url_passwords
            .insert(format!("url_password_{name}"), decoded);
        // The userinfo as written in the plan: between `://` and the first `@` before the path.
        let raw = url.get_ref().as_str();
        let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
        let authority = after_scheme.split('/').next().unwrap_or_default();
        let written = authority
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(_, password)| !password.contains("${"));
        if written {
            self.warnings.push(
                Diagnostic::new(
                    Some(text.span.clone()),
                    format!("the url of target `{name}` spells out a password"),
                )
                .label("a password written in the plan")
                .hint(format!(
                    "declare it in [secrets] (e.g. {name}_password = {{ env = \"{}_PASSWORD\" }}) and write ${{{}_PASSWORD}} in its place: a plan is shared and sealed with the evidence, and only a secret is checked before the run",
                    name.to_ascii_uppercase(),
                    name.to_ascii_uppercase()
                )),
            );
        }
    }

    /// Compile a headers table: names must be valid header names; values are templates.
    pub(crate) fn headers(
        &mut self,
        headers: Option<&OrderedMap<Str>>,
        what: &str,
        scope: &Scope<'_>,
    ) -> Option<Vec<HeaderTemplate>> {
        let mut out = Some(Vec::new());
        for (name, value) in headers.map(|h| h.0.as_slice()).unwrap_or_default() {
            let field = format!("header `{name}` in {what}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.push(
                    Diagnostic::new(
                        Some(value.span()),
                        format!("`{name}` is not a valid HTTP header name ({what})"),
                    )
                    .label("the value of an invalid header")
                    .hint("header names are letters, digits and `-`, e.g. \"X-API-Key\""),
                );
                out = None;
                continue;
            }
            let compiled = self
                .text(value, &field)
                .and_then(|text| self.template(&text, &field, scope));
            match (compiled, out.as_mut()) {
                (Some(value), Some(list)) => list.push(HeaderTemplate {
                    name: name.clone(),
                    value,
                }),
                _ => out = None,
            }
        }
        out
    }

    /// Compile a request line; `form` says whether it names a target, which must exist.
    pub(crate) fn request(
        &mut self,
        line: &Str,
        form: Form,
        what: &str,
        scope: &Scope<'_>,
    ) -> Option<CompiledRequest> {
        let text = self.text(line, what)?;
        let parsed = match parse_request_line(&text.value, form) {
            Ok(parsed) => parsed,
            Err(err) => {
                let example = match form {
                    Form::Targeted => "\"POST api:/api/v1/runs\"",
                    Form::PathOnly => "\"GET /health\"",
                };
                self.push(
                    Diagnostic::new(
                        Some(text.sub_span(err.range)),
                        format!("invalid request line in {what}: {}", err.message),
                    )
                    .label("here")
                    .hint(format!(
                        "write METHOD {}/path, e.g. {example}; methods: {}",
                        if form == Form::Targeted {
                            "target:"
                        } else {
                            ""
                        },
                        method_names()
                    )),
                );
                return None;
            }
        };
        let target_ok = match parsed.target {
            Some(target) => {
                self.target_ref(target, text.sub_span(parsed.target_range.clone()), what)
            }
            None => true,
        };
        let path_text = text.slice(parsed.path_range.clone());
        let path = self.template(&path_text, &format!("the path of {what}"), scope);
        Some(CompiledRequest {
            method: parsed.method,
            target: parsed.target.map(str::to_string),
            path: path.filter(|_| target_ok)?,
        })
    }

    /// Check that `name` is a declared target.
    pub(crate) fn target_ref(&mut self, name: &str, span: Range<usize>, what: &str) -> bool {
        if self.targets.contains(name) {
            return true;
        }
        let defined: Vec<&str> = self.targets.iter().map(String::as_str).collect();
        self.push(
            Diagnostic::new(
                Some(span),
                format!("{what} uses the target `{name}`, which is not defined"),
            )
            .label("unknown target")
            .hint(if defined.is_empty() {
                format!("define it: [targets.{name}] with url = \"http://...\"")
            } else {
                format!(
                    "defined targets: {}; or define it: [targets.{name}] with url = \"http://...\"",
                    defined.join(", ")
                )
            }),
        );
        false
    }

    fn probe(&mut self, probe: &Spanned<ProbeForm>, what: &str) -> Option<Probe> {
        let scope = Scope::default();
        match probe.get_ref() {
            ProbeForm::Line(line) => {
                let line = Spanned::new(probe.span(), line.clone());
                let request = self.request(&line, Form::PathOnly, what, &scope)?;
                Some(Probe {
                    method: request.method,
                    path: request.path,
                    headers: Vec::new(),
                    expect_status: StatusSet::Success,
                })
            }
            ProbeForm::Table(table) => {
                let request = match &table.request {
                    Some(line) => self.request(line, Form::PathOnly, what, &scope),
                    None => {
                        self.push(
                            Diagnostic::new(Some(probe.span()), format!("{what} has no `request`"))
                                .label("`request` is required here")
                                .hint("e.g. { request = \"GET /health\", status = [200] }"),
                        );
                        None
                    }
                };
                let headers = self.headers(table.headers.as_ref(), what, &scope);
                let status = self.status_set(table.status.as_ref(), what);
                let request = request?;
                Some(Probe {
                    method: request.method,
                    path: request.path,
                    headers: headers?,
                    expect_status: status?,
                })
            }
        }
    }

    /// Compile a status list: absent means any 2xx.
    pub(crate) fn status_set(
        &mut self,
        status: Option<&Spanned<StatusForm>>,
        what: &str,
    ) -> Option<StatusSet> {
        let Some(status) = status else {
            return Some(StatusSet::Success);
        };
        let codes = &status.get_ref().0;
        let bad: Vec<String> = codes
            .iter()
            .filter(|c| !(100..=599).contains(*c))
            .map(|c| c.to_string())
            .collect();
        if codes.is_empty() || !bad.is_empty() {
            let message = if codes.is_empty() {
                format!("the status list of {what} is empty")
            } else {
                format!("{} in {what} is not an HTTP status", bad.join(", "))
            };
            self.push(
                Diagnostic::new(Some(status.span()), message)
                    .label("invalid status")
                    .hint("statuses are 100 to 599: status = 200 or status = [200, 201]; leave it out to accept any 2xx"),
            );
            return None;
        }
        Some(StatusSet::Codes(
            codes
                .iter()
                .filter_map(|c| u16::try_from(*c).ok())
                .collect(),
        ))
    }

    /// Compile a JSONPath.
    pub(crate) fn jsonpath(&mut self, value: &Str, what: &str) -> Option<(String, JsonPath)> {
        let text = self.text(value, what)?;
        match JsonPath::parse(&text.value) {
            Ok(path) => Some((text.value, path)),
            Err(err) => {
                self.push(
                    Diagnostic::new(
                        Some(text.span),
                        format!("invalid JSONPath `{}` in {what}: {err}", text.value),
                    )
                    .label("not a JSONPath")
                    .hint("JSONPaths start at `$`: \"$.id\", \"$.runs[*]\", \"$.items[0].status\""),
                );
                None
            }
        }
    }
}
