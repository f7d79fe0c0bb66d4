//! Compiling the plan-wide sections: `[plan]` with its limits, `[vars]`, and `[secrets]` with
//! their values read from the environment.

use std::collections::BTreeMap;

use toml::Spanned;

use crate::compile::{Compiler, SecretDecl, key_path};
use crate::diagnostics::Diagnostic;
use crate::interpolate::is_var_name;
use crate::model::{Environment, Limits, SecretValue, Secrets};
use crate::raw::{RawPlanFile, RawPlanSection};
use crate::redact::MIN_SECRET_CHARS;

impl Compiler<'_> {
    pub(crate) fn plan_section(
        &mut self,
        section: Option<&Spanned<RawPlanSection>>,
    ) -> Option<(String, Environment, u64, Limits)> {
        let Some(section) = section else {
            self.push(
                Diagnostic::new(Some(0..0), "the plan has no [plan] table")
                    .label("expected [plan] here")
                    .hint("start the file with [plan], name = \"...\" and limits = { duration = \"5m\", requests = 10000 }"),
            );
            return None;
        };
        let section = section.get_ref();
        let name = match &section.name {
            Some(name) => self.text(name, "[plan] name").map(|t| t.value),
            None => {
                self.missing(
                    &key_path!["plan"],
                    "name",
                    "name the plan: name = \"staging-gate\"",
                );
                None
            }
        };
        let environment = match &section.environment {
            None => Some(Environment::Local),
            Some(value) => {
                let text = self.text(value, "[plan] environment")?;
                match text.value.as_str() {
                    "local" => Some(Environment::Local),
                    "staging" => Some(Environment::Staging),
                    "production" => Some(Environment::Production),
                    other => {
                        self.push(
                            Diagnostic::new(
                                Some(text.span.clone()),
                                format!("`{other}` is not an environment"),
                            )
                            .label("unknown environment")
                            .hint("environment is one of: local, staging, production"),
                        );
                        None
                    }
                }
            }
        };
        let seed = match &section.seed {
            None => Some(0),
            Some(seed) => match u64::try_from(*seed.get_ref()) {
                Ok(s) => Some(s),
                Err(_) => {
                    self.push(
                        Diagnostic::new(
                            Some(seed.span()),
                            format!("the seed must be 0 or more, not {}", seed.get_ref()),
                        )
                        .label("negative")
                        .hint("use any whole number >= 0, e.g. seed = 42"),
                    );
                    None
                }
            },
        };
        let limits = self.limits(section);
        Some((name?, environment?, seed?, limits?))
    }

    pub(crate) fn limits(&mut self, section: &RawPlanSection) -> Option<Limits> {
        const WHY: &str = "the limits bound the run so that a gate can never run away: \
limits = { duration = \"10m\", requests = 100000 }";
        let Some(limits) = &section.limits else {
            self.missing(&key_path!["plan"], "limits", WHY);
            return None;
        };
        let span = limits.span();
        let limits = limits.get_ref();
        let duration = match &limits.duration {
            Some(d) => self.required_duration(d, "limits.duration"),
            None => {
                self.push(
                    Diagnostic::new(Some(span.clone()), "`plan.limits` has no `duration`")
                        .label("`duration` is required here")
                        .hint(format!(
                            "the maximum wall time of the run is mandatory; {WHY}"
                        )),
                );
                None
            }
        };
        let requests = match &limits.requests {
            Some(r) => self.positive::<u64>(r, "limits.requests"),
            None => {
                self.push(
                    Diagnostic::new(Some(span), "`plan.limits` has no `requests`")
                        .label("`requests` is required here")
                        .hint(format!(
                            "the maximum number of requests is mandatory; {WHY}"
                        )),
                );
                None
            }
        };
        let rate = match &limits.rate {
            None => Some(None),
            Some(rate) if *rate.get_ref() > 0.0 && rate.get_ref().is_finite() => {
                Some(Some(*rate.get_ref()))
            }
            Some(rate) => {
                self.push(
                    Diagnostic::new(Some(rate.span()), format!("limits.rate must be positive, not {}", rate.get_ref()))
                        .label("not a rate")
                        .hint("requests per second over all tests, e.g. rate = 1000; leave it out for no limit"),
                );
                None
            }
        };
        Some(Limits {
            duration: duration?,
            requests: requests?,
            rate: rate?,
        })
    }

    pub(crate) fn vars(&mut self, raw: &RawPlanFile) -> BTreeMap<String, serde_json::Value> {
        let mut out = BTreeMap::new();
        for (name, value) in raw.vars.iter().flatten() {
            self.vars.insert(name.clone());
            if let Some(json) = self.json_value(value, &format!("vars.{name}"), None) {
                out.insert(name.clone(), json);
            }
        }
        out
    }

    /// Warn about each `[vars]` entry no template reads.
    pub(crate) fn unread_vars(&mut self, raw: &RawPlanFile) {
        for name in raw.vars.iter().flatten().map(|(name, _)| name) {
            if self.vars_read.contains(name) {
                continue;
            }
            let span = self.locator.key_span(&key_path!["vars", name]);
            self.warnings.push(
                Diagnostic::new(span, format!("`vars.{name}` is defined but nothing reads it"))
                    .label("never read")
                    .hint(format!(
                        "read it in a template as `{{{{ vars.{name} }}}}`, or remove it (a misspelt name reads as undefined)"
                    )),
            );
        }
    }

    pub(crate) fn declare_secrets(&mut self, raw: &RawPlanFile) {
        for (name, secret) in raw.secrets.iter().flatten() {
            let Some(env) = &secret.get_ref().env else {
                self.push(
                    Diagnostic::new(
                        Some(secret.span()),
                        format!("secret `{name}` does not say where its value comes from"),
                    )
                    .label("no `env`")
                    .hint(format!("{name} = {{ env = \"ENV_VAR_NAME\" }}")),
                );
                continue;
            };
            let Some(text) = self.text(env, &format!("secrets.{name}.env")) else {
                continue;
            };
            if !is_var_name(&text.value) {
                self.push(
                    Diagnostic::new(Some(text.span.clone()), format!("`{}` is not an environment variable name", text.value))
                        .label("not a variable name")
                        .hint("name the variable itself, e.g. env = \"OPS_API_KEY\" (letters, digits and `_`)"),
                );
                continue;
            }
            self.secrets.insert(name.clone(), SecretDecl { env: text });
        }
    }

    /// Read every declared secret from the environment. A referenced secret that is unset or
    /// empty is an error; an unreferenced one is simply left out. A value shorter than
    /// [`MIN_SECRET_CHARS`] is an error whether referenced or not (it may still be interpolated
    /// as `${VAR}`), since it could not be redacted safely.
    pub(crate) fn secret_values(&mut self) -> Secrets {
        let mut secrets = Secrets {
            url_passwords: std::mem::take(&mut self.url_passwords),
            ..Secrets::default()
        };
        let names: Vec<String> = self.secrets.keys().cloned().collect();
        for name in names {
            let Some(decl) = self.secrets.get(&name) else {
                continue;
            };
            let var = decl.env.value.clone();
            let span = decl.env.span.clone();
            match (self.env)(&var) {
                Some(value) if value.chars().count() >= MIN_SECRET_CHARS => {
                    secrets.values.insert(name, SecretValue { env: var, value });
                }
                Some(value) if !value.is_empty() => {
                    let count = value.chars().count();
                    self.push(
                        Diagnostic::new(
                            Some(span),
                            format!(
                                "secret `{name}` is too short to redact: its variable `{var}` holds {count} character{}, and a secret needs at least {MIN_SECRET_CHARS}",
                                if count == 1 { "" } else { "s" }
                            ),
                        )
                        .label(format!("`{name}` is read from ${var}"))
                        .hint(format!(
                            "give the service a real credential of {MIN_SECRET_CHARS} or more characters and set it in ${var}; a short value would also match ordinary words and figures, so the evidence could not be redacted safely"
                        )),
                    );
                }
                value => {
                    let Some(first_use) = self.secret_refs.get(&name).cloned() else {
                        continue;
                    };
                    let state = if value.is_some() {
                        "is empty"
                    } else {
                        "is not set"
                    };
                    let line = self
                        .source
                        .get(..first_use.start)
                        .map_or(0, |before| before.matches('\n').count())
                        + 1;
                    self.push(
                        Diagnostic::new(
                            Some(span),
                            format!("secret `{name}` is referenced, but its variable `{var}` {state}"),
                        )
                        .label(format!("`{name}` is read from ${var}, referenced first on line {line}"))
                        .hint(format!(
                            "set it in the environment that runs shakedown (`export {var}=...`, or a CI secret); it is never written to any output"
                        )),
                    );
                }
            }
        }
        secrets
    }
}
