//! Compiling the verifications that send requests to a target: `http` and `canary`, and the
//! `login` either can send first.

use std::ops::Range;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::model::StatusSet;
use crate::raw::Str;
use crate::raw_forms::OrderedMap;
use crate::request_line::Form;
use crate::scenarios::model::{Body, Capture, Expect};
use crate::scenarios::raw::RawExpect;
use crate::scope::{RESERVED_NAMES, Scope, is_capture_name};
use crate::verify::model::{CanaryProbe, HttpProbe, Login, ProbeRequest};
use crate::verify::raw::{RawCanary, RawHttpProbe, RawLogin};

/// Captures a login defines for the check's templates: (variable, where it is captured).
type Defined = Vec<(String, String)>;

/// The request fields shared by `http`, `canary` and `login`.
pub(crate) struct RequestParts<'r> {
    pub request: Option<&'r Str>,
    pub headers: Option<&'r OrderedMap<Str>>,
    pub json: Option<&'r Spanned<toml::Value>>,
    pub expect: Option<&'r Spanned<RawExpect>>,
}

impl Compiler<'_> {
    /// A check's `login` and its own request, whose templates read the login's captures.
    fn request_with_login(
        &mut self,
        login: Option<&Spanned<RawLogin>>,
        parts: RequestParts<'_>,
        span: Range<usize>,
        what: &str,
    ) -> Option<(Option<Login>, ProbeRequest)> {
        let (login, captured) = self.login(login, what)?;
        let scope = Scope {
            captures: &captured,
            later: &[],
            key: false,
        };
        let request = self.probe_request(parts, span, what, &scope)?;
        Some((login, request))
    }

    fn probe_request(
        &mut self,
        parts: RequestParts<'_>,
        span: Range<usize>,
        what: &str,
        scope: &Scope<'_>,
    ) -> Option<ProbeRequest> {
        let RequestParts {
            request,
            headers,
            json,
            expect,
        } = parts;
        let Some(line) = request else {
            self.push(
                Diagnostic::new(Some(span), format!("{what} has no `request`"))
                    .label("`request` is required here")
                    .hint("e.g. request = \"GET api:/health\""),
            );
            return None;
        };
        let request = self.request(
            line,
            Form::Targeted,
            &format!("the request of {what}"),
            scope,
        );
        let headers = self.headers(headers, &format!("the headers of {what}"), scope);
        let body = match json {
            Some(json) => self
                .json_value(json, &format!("the json body of {what}"), Some(scope))
                .map(|v| Some(Body::Json(v))),
            None => Some(None),
        };
        let expect = match expect {
            Some(e) => self.expect(&|f| format!("{f} of {what}"), e.get_ref(), scope),
            None => Some(Expect {
                status: StatusSet::Success,
                body_contains: Vec::new(),
                json: Vec::new(),
                max_latency: None,
            }),
        };
        let request = request?;
        Some(ProbeRequest {
            method: request.method,
            target: request.target?,
            path: request.path,
            headers: headers?,
            body: body?,
            expect: expect?,
        })
    }

    pub(crate) fn http_probe(
        &mut self,
        raw: &Spanned<RawHttpProbe>,
        what: &str,
    ) -> Option<HttpProbe> {
        let p = raw.get_ref();
        let (login, request) = self.request_with_login(
            p.login.as_ref(),
            RequestParts {
                request: p.request.as_ref(),
                headers: p.headers.as_ref(),
                json: p.json.as_ref(),
                expect: p.expect.as_ref(),
            },
            raw.span(),
            what,
        )?;
        Some(HttpProbe { login, request })
    }

    fn login(
        &mut self,
        raw: Option<&Spanned<RawLogin>>,
        what: &str,
    ) -> Option<(Option<Login>, Defined)> {
        let Some(raw) = raw else {
            return Some((None, Vec::new()));
        };
        let l = raw.get_ref();
        let login_what = format!("the login of {what}");
        let request = self.probe_request(
            RequestParts {
                request: l.request.as_ref(),
                headers: l.headers.as_ref(),
                json: l.json.as_ref(),
                expect: None,
            },
            raw.span(),
            &login_what,
            &Scope::default(),
        );
        let mut captures = Some(Vec::new());
        let mut names = Vec::new();
        for (name, source) in l.capture.iter().flat_map(|c| c.0.iter()) {
            if !is_capture_name(name) {
                self.push(
                    Diagnostic::new(
                        Some(source.span()),
                        format!("`{name}` in {login_what} is not a valid capture name"),
                    )
                    .label("invalid capture name")
                    .hint(format!(
                        "capture names are identifiers other than {}",
                        RESERVED_NAMES.join(", ")
                    )),
                );
                captures = None;
                continue;
            }
            names.push((name.clone(), "login".to_string()));
            match (
                self.jsonpath(source, &format!("capture `{name}` of {login_what}")),
                captures.as_mut(),
            ) {
                (Some((source, path)), Some(list)) => list.push(Capture {
                    name: name.clone(),
                    source,
                    path,
                }),
                _ => captures = None,
            }
        }
        let captures = captures?;
        if captures.is_empty() {
            self.push(
                Diagnostic::new(Some(raw.span()), format!("{login_what} captures nothing"))
                    .label("`capture` is required here")
                    .hint("capture what the check needs, e.g. capture = { token = \"$.access_token\" }"),
            );
            return None;
        }
        Some((
            Some(Login {
                request: request?,
                captures,
            }),
            names,
        ))
    }

    pub(crate) fn canary_probe(
        &mut self,
        raw: &Spanned<RawCanary>,
        what: &str,
    ) -> Option<CanaryProbe> {
        let p = raw.get_ref();
        let requested = self.request_with_login(
            p.login.as_ref(),
            RequestParts {
                request: p.request.as_ref(),
                headers: p.headers.as_ref(),
                json: p.json.as_ref(),
                expect: p.expect.as_ref(),
            },
            raw.span(),
            what,
        );
        let count = match &p.count {
            Some(c) => self.positive::<u32>(c, &format!("`count` of {what}")),
            None => Some(3),
        };
        let mut record = Some(Vec::new());
        match &p.record {
            Some(fields) if !fields.0.is_empty() => {
                for (name, source) in &fields.0 {
                    match (
                        self.jsonpath(source, &format!("`record.{name}` of {what}")),
                        record.as_mut(),
                    ) {
                        (Some((source, path)), Some(list)) => {
                            list.push((name.clone(), source, path))
                        }
                        _ => record = None,
                    }
                }
            }
            _ => {
                self.push(
                    Diagnostic::new(Some(raw.span()), format!("{what} records no provenance: `record` is missing or empty"))
                        .label("`record` is required here")
                        .hint("name the fields to record: record = { request_id = \"$.request_id\", model = \"$.model\" }"),
                );
                record = None;
            }
        }
        let mut unique = Some(Vec::new());
        for u in p.unique.iter().flatten() {
            let recorded = p
                .record
                .as_ref()
                .is_some_and(|r| r.0.iter().any(|(n, _)| n == u.get_ref()));
            if !recorded {
                self.push(
                    Diagnostic::new(
                        Some(u.span()),
                        format!(
                            "`unique` of {what} names `{}`, which `record` does not record",
                            u.get_ref()
                        ),
                    )
                    .label("not recorded")
                    .hint("list names of `record` fields, e.g. unique = [\"request_id\"]"),
                );
                unique = None;
            } else if let Some(list) = unique.as_mut() {
                list.push(u.get_ref().clone());
            }
        }
        let (login, request) = requested?;
        Some(CanaryProbe {
            login,
            request,
            count: count?,
            record: record?,
            unique: unique?,
        })
    }
}
