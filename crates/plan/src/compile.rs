//! The second stage: [`RawPlanFile`] to the validated [`Plan`], collecting every error.
//!
//! The [`Compiler`] carries what the checks share: the plan text and its locator, the injected
//! environment, the declared names (vars, secrets, targets) and the diagnostics so far. Each
//! check records a diagnostic and carries on with what it can, so that one run reports every
//! problem. A `Plan` is only built when there is none. Targets, steps and load tests are compiled
//! in their own files; template scoping is in `scope.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use crate::diagnostics::Diagnostic;
use crate::duration::{DURATION_HINT, parse_duration};
use crate::interpolate::{InterpolationError, Text, interpolate};
use crate::locate::{DisplayPath, Locator, Seg};
use crate::model::Plan;
use crate::raw::{RawPlanFile, Str};
use crate::redact::Redactor;

/// A declared secret: where its value comes from.
pub(crate) struct SecretDecl {
    /// The environment variable.
    pub env: Text,
}

/// State shared by every check of one compilation.
pub(crate) struct Compiler<'a> {
    pub source: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub locator: &'a Locator<'a>,
    pub diagnostics: Vec<Diagnostic>,
    /// Names in `[vars]`.
    pub vars: BTreeSet<String>,
    /// Names in `[vars]` a template reads (every one, when a template reads `vars` whole).
    pub vars_read: BTreeSet<String>,
    /// Things that are legal but probably not meant: `validate` shows them, they stop nothing.
    pub warnings: Vec<Diagnostic>,
    /// Declared secrets by name.
    pub secrets: BTreeMap<String, SecretDecl>,
    /// Passwords in the userinfo of target URLs, by name, for redaction.
    pub url_passwords: BTreeMap<String, String>,
    /// Referenced secrets, with the first reference.
    pub secret_refs: BTreeMap<String, Range<usize>>,
    /// Declared target names.
    pub targets: BTreeSet<String>,
    /// `limits.rate`, once the plan section is compiled: open-model rates above it are refused.
    pub rate_limit: Option<f64>,
    /// `limits.requests`, once the plan section is compiled: no test needs more users.
    pub request_limit: Option<u64>,
    /// Declared proxy names (`[proxies.NAME]`), once compiled: timeline toxics name them.
    pub proxies: BTreeSet<String>,
}

/// Build a path of keys: `key_path!["targets", name]`.
macro_rules! key_path {
    ($($seg:expr),* $(,)?) => { [$($crate::locate::Seg::from($seg)),*] };
}
pub(crate) use key_path;

impl From<&str> for Seg {
    fn from(key: &str) -> Seg {
        Seg::Key(key.to_string())
    }
}

impl From<&String> for Seg {
    fn from(key: &String) -> Seg {
        Seg::Key(key.clone())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Seg {
        Seg::Index(index)
    }
}

/// Whether `name` is a valid name for targets, steps, load ids and gauges.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Compile the raw plan. `source` is the plan text and `path` where it came from.
pub fn compile(
    raw: &RawPlanFile,
    source: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    locator: &Locator<'_>,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut cx = Compiler {
        source,
        env,
        locator,
        diagnostics: std::mem::take(&mut diagnostics),
        vars: BTreeSet::new(),
        vars_read: BTreeSet::new(),
        warnings: Vec::new(),
        secrets: BTreeMap::new(),
        secret_refs: BTreeMap::new(),
        url_passwords: BTreeMap::new(),
        targets: BTreeSet::new(),
        rate_limit: None,
        request_limit: None,
        proxies: BTreeSet::new(),
    };
    let section = cx.plan_section(raw.plan.as_ref());
    cx.rate_limit = section.as_ref().and_then(|s| s.3.rate);
    cx.request_limit = section.as_ref().map(|s| s.3.requests);
    let settle = cx.settle(raw);
    let vars = cx.vars(raw);
    cx.declare_secrets(raw);
    let targets = cx.targets(raw);
    let scenarios = cx.scenarios(raw);
    let mut load_tests = cx.load_tests(raw, &scenarios);
    let proxies = cx.proxies(raw);
    let mut faults = cx.fault_plan(raw, &scenarios, &targets, &load_tests);
    crate::proxies::compile::mark_proxy_users(&targets, &mut load_tests, &mut faults);
    let oracles = cx.oracles(raw);
    let test_ids = load_tests
        .iter()
        .map(|t| t.id.clone())
        .chain(faults.tests.iter().map(|t| t.load.id.clone()))
        .collect();
    let verifications = cx.verifications(raw, &oracles, test_ids);
    let secrets = cx.secret_values();
    let redactor = Redactor::new(&secrets);
    if !cx.diagnostics.is_empty() {
        return Err(redact(cx.diagnostics, &redactor));
    }
    cx.unread_vars(raw);
    let warnings =
        crate::diagnostics::render_warnings(path, source, redact(cx.warnings, &redactor))
            .into_iter()
            .map(|w| redactor.redact(&w).into_owned())
            .collect();
    let (Some((name, environment, seed, limits)), Some(settle)) = (section, settle) else {
        // Every path that leaves these empty records why; this is a guard, not a plan error.
        return Err(vec![Diagnostic::new(
            None,
            "internal error: the plan section did not compile",
        )]);
    };
    let redacted_source = redactor.redact_toml(source);
    Ok(Plan {
        name,
        environment,
        seed,
        limits,
        settle,
        secrets,
        vars,
        warnings,
        targets,
        scenarios: scenarios
            .into_iter()
            .map(|(k, v)| (k, v.scenario))
            .collect(),
        load_tests,
        faults,
        proxies,
        oracles,
        verifications,
        evidence: crate::model::Evidence {
            hostname: raw
                .evidence
                .as_ref()
                .and_then(|e| e.get_ref().hostname.as_ref())
                .is_some_and(|h| *h.get_ref()),
        },
        source: path.to_path_buf(),
        redacted_source,
    })
}

/// Diagnostics may quote interpolated values; a secret's value must not leak through them.
fn redact(diagnostics: Vec<Diagnostic>, redactor: &Redactor) -> Vec<Diagnostic> {
    diagnostics
        .into_iter()
        .map(|mut d| {
            d.message = redactor.redact(&d.message).into_owned();
            d.label = redactor.redact(&d.label).into_owned();
            d.hint = redactor.redact(&d.hint).into_owned();
            d
        })
        .collect()
}

impl<'a> Compiler<'a> {
    /// Record a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Record that `key` is missing from the table at `path`.
    pub fn missing(&mut self, path: &[Seg], key: &str, hint: impl Into<String>) {
        let place = DisplayPath(path).to_string();
        let message = if place.is_empty() {
            format!("the plan has no `{key}`")
        } else {
            format!("`{place}` has no `{key}`")
        };
        let span = self.locator.key_span(path);
        self.push(
            Diagnostic::new(span, message)
                .label(format!("`{key}` is required here"))
                .hint(hint),
        );
    }

    /// Interpolate `${VAR}` in a string value; `what` names the field for messages.
    pub fn text(&mut self, value: &Str, what: &str) -> Option<Text> {
        let text = Text::from_source(value.get_ref(), value.span(), self.source);
        match interpolate(&text.value, self.env) {
            Ok(interpolated) => Some(text.with_value(interpolated)),
            Err(errors) => {
                for error in errors {
                    let d = match error {
                        InterpolationError::Missing { name, range } => Diagnostic::new(
                            Some(text.sub_span(range)),
                            format!("environment variable `{name}` is not set (used in {what})"),
                        )
                        .label(format!("`${{{name}}}` has no default"))
                        .hint(format!(
                            "set it before running shakedown (`export {name}=...`), or give a default: `${{{name}:-value}}`"
                        )),
                        InterpolationError::Unterminated { range } => Diagnostic::new(
                            Some(text.sub_span(range)),
                            format!("`${{` is not closed in {what}"),
                        )
                        .label("no closing `}`")
                        .hint("write `${VAR}` or `${VAR:-default}`; write `$${` for a literal `${`"),
                        InterpolationError::BadName { name, range } => Diagnostic::new(
                            Some(text.sub_span(range)),
                            format!("`${{{name}}}` in {what} is not a valid variable reference"),
                        )
                        .label("not a variable name")
                        .hint("variable names are letters, digits and `_`: `${API_URL}`; write `$${` for a literal `${`"),
                    };
                    self.push(d);
                }
                None
            }
        }
    }

    /// Parse an optional duration, with a default (as written in TOML, without quotes).
    pub fn duration(&mut self, value: Option<&Str>, default: &str, what: &str) -> Option<Duration> {
        let Some(value) = value else {
            return parse_duration(default).ok();
        };
        self.required_duration(value, what)
    }

    /// Parse a duration that is present; zero is rejected.
    pub fn required_duration(&mut self, value: &Str, what: &str) -> Option<Duration> {
        self.parsed_duration(value, what, false)
    }

    /// Parse a duration that is present, zero allowed when `zero_ok`.
    pub fn parsed_duration(&mut self, value: &Str, what: &str, zero_ok: bool) -> Option<Duration> {
        let text = self.text(value, what)?;
        match parse_duration(&text.value) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.push(
                    Diagnostic::new(Some(text.span), format!("{what} cannot be zero"))
                        .label("zero")
                        .hint("use a positive duration, e.g. \"100ms\""),
                );
                None
            }
            Ok(d) => Some(d),
            Err(message) => {
                self.push(
                    Diagnostic::new(Some(text.span), format!("{message} (in {what})"))
                        .label("not a duration")
                        .hint(DURATION_HINT),
                );
                None
            }
        }
    }

    /// A positive integer that fits in `T`.
    pub fn positive<T: TryFrom<i64>>(&mut self, value: &Spanned<i64>, what: &str) -> Option<T> {
        match T::try_from(*value.get_ref()) {
            Ok(v) if *value.get_ref() > 0 => Some(v),
            _ => {
                self.push(
                    Diagnostic::new(
                        Some(value.span()),
                        format!("{what} must be a positive integer, not {}", value.get_ref()),
                    )
                    .label("out of range")
                    .hint(format!("write a whole number from 1 to {}", u32::MAX)),
                );
                None
            }
        }
    }

    /// A TOML value as JSON. Strings are interpolated; with `template` (a scope and a field
    /// name) they are also checked as templates.
    pub fn json_value(
        &mut self,
        value: &Spanned<toml::Value>,
        what: &str,
        template: Option<&crate::scope::Scope<'_>>,
    ) -> Option<serde_json::Value> {
        let span = value.span();
        self.json_inner(value.get_ref(), &span, what, template)
    }

    fn json_inner(
        &mut self,
        value: &toml::Value,
        span: &Range<usize>,
        what: &str,
        template: Option<&crate::scope::Scope<'_>>,
    ) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match value {
            toml::Value::String(s) => {
                let located = self.locate_string(s, span);
                let text = self.text(&located, what)?;
                if let Some(scope) = template {
                    self.template(&text, what, scope)?;
                }
                J::String(text.value)
            }
            toml::Value::Integer(i) => J::from(*i),
            toml::Value::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => J::Number(n),
                None => {
                    self.push(
                        Diagnostic::new(
                            Some(span.clone()),
                            format!("{what} holds {f}, which JSON cannot represent"),
                        )
                        .label("not a JSON number")
                        .hint("use a finite number"),
                    );
                    return None;
                }
            },
            toml::Value::Boolean(b) => J::Bool(*b),
            toml::Value::Datetime(d) => J::String(d.to_string()),
            toml::Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.json_inner(item, span, what, template) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                J::Array(out)
            }
            toml::Value::Table(table) => {
                let mut out = serde_json::Map::new();
                let mut ok = true;
                for (k, v) in table {
                    match self.json_inner(v, span, what, template) {
                        Some(v) => {
                            out.insert(k.clone(), v);
                        }
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                J::Object(out)
            }
        })
    }

    /// A string nested in a larger value, with its own span when it is written plainly once
    /// within `within`, else the span of the whole value.
    fn locate_string(&self, s: &str, within: &Range<usize>) -> Str {
        let region = self.source.get(within.clone()).unwrap_or_default();
        for quoted in [format!("\"{s}\""), format!("'{s}'")] {
            let mut found = region.match_indices(quoted.as_str());
            if let (Some((at, _)), None) = (found.next(), found.next()) {
                let start = within.start + at;
                return Spanned::new(start..start + quoted.len(), s.to_string());
            }
        }
        Spanned::new(within.clone(), s.to_string())
    }
}
