//! Compiling a timeline entry's `toxic` (with its `proxy` and `for`) into a
//! [`FaultAction::Toxic`]. An unknown kind lists the valid kinds; an unknown or bad parameter
//! lists the kind's valid parameters.

use std::time::Duration;

use toml::Spanned;

use super::compile::Compiler;
use super::diagnostics::Diagnostic;
use super::duration::parse_duration;
use super::model_faults::FaultAction;
use super::raw::Str;
use super::raw_proxy::ToxicForm;
use crate::proxy::toxics::{self, Direction, KindInfo, ParamType, ParamValue, ToxicSpec};

/// Keys every toxic table takes besides its kind's parameters.
const COMMON: &[&str] = &["kind", "direction", "toxicity"];

/// The valid keys of a toxic table of `kind`, for messages.
fn valid_keys(kind: &KindInfo) -> String {
    COMMON
        .iter()
        .copied()
        .chain(kind.params.iter().map(|p| p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Compiler<'_> {
    /// The toxic action of a timeline entry.
    pub(super) fn toxic_action(
        &mut self,
        form: &Spanned<ToxicForm>,
        proxy: Option<&Str>,
        r#for: Option<&Str>,
        what: &str,
    ) -> Option<FaultAction> {
        let proxy = self.toxic_proxy(proxy, form, what);
        let ttl = self.duration(r#for, "5s", &format!("`for` of {what}"));
        let spec = self.toxic_spec(form, what);
        Some(FaultAction::Toxic {
            proxy: proxy?,
            spec: spec?,
            ttl: ttl?,
        })
    }

    fn toxic_proxy(
        &mut self,
        proxy: Option<&Str>,
        form: &Spanned<ToxicForm>,
        what: &str,
    ) -> Option<String> {
        let declared = if self.proxies.is_empty() {
            "the plan declares no proxy: add [proxies.NAME] with listen and upstream".to_string()
        } else {
            format!(
                "declared proxies: {}",
                self.proxies.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let Some(proxy) = proxy else {
            self.push(
                Diagnostic::new(Some(form.span()), format!("{what} has a `toxic` but no `proxy`"))
                    .label("which proxy?")
                    .hint(format!("add proxy = \"NAME\"; {declared}")),
            );
            return None;
        };
        let text = self.text(proxy, what)?;
        if !self.proxies.contains(&text.value) {
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!("{what} puts a toxic on proxy `{}`, which is not declared", text.value),
                )
                .label("unknown proxy")
                .hint(declared),
            );
            return None;
        }
        Some(text.value)
    }

    fn toxic_spec(&mut self, form: &Spanned<ToxicForm>, what: &str) -> Option<ToxicSpec> {
        let span = form.span();
        let empty = std::collections::BTreeMap::new();
        let (kind_name, kind_span, table) = match form.get_ref() {
            ToxicForm::Kind(kind) => (kind.clone(), span.clone(), &empty),
            ToxicForm::Table(table) => match table.get("kind") {
                Some(v) => match v.get_ref().as_str() {
                    Some(kind) => (kind.to_string(), v.span(), table),
                    None => {
                        self.push(
                            Diagnostic::new(Some(v.span()), format!("`kind` of the toxic of {what} is not a string"))
                                .label("expected a string")
                                .hint(format!("kinds: {}", toxics::kind_names().join(", "))),
                        );
                        return None;
                    }
                },
                None => {
                    self.push(
                        Diagnostic::new(Some(span), format!("the toxic of {what} has no `kind`"))
                            .label("`kind` is required in a toxic table")
                            .hint(format!(
                                "e.g. toxic = {{ kind = \"latency\", latency = \"300ms\" }}; kinds: {}",
                                toxics::kind_names().join(", ")
                            )),
                    );
                    return None;
                }
            },
        };
        let Some(kind) = toxics::KINDS.iter().find(|k| k.name == kind_name) else {
            self.push(
                Diagnostic::new(Some(kind_span), format!("`{kind_name}` is not a toxic ({what})"))
                    .label("unknown toxic")
                    .hint(format!("valid toxics: {}", toxics::kind_names().join(", "))),
            );
            return None;
        };
        let mut ok = true;
        let mut values = Vec::new();
        for (key, value) in table {
            if COMMON.contains(&key.as_str()) {
                continue;
            }
            let Some(param) = kind.params.iter().find(|p| p.name == key) else {
                self.push(
                    Diagnostic::new(
                        Some(value.span()),
                        format!("`{key}` is not a parameter of the `{}` toxic ({what})", kind.name),
                    )
                    .label("unknown parameter")
                    .hint(format!("`{}` takes: {}", kind.name, valid_keys(kind))),
                );
                ok = false;
                continue;
            };
            match self.param_value(param.ty, value, key, kind, what) {
                Some(v) => values.push((param.name, v)),
                None => ok = false,
            }
        }
        let direction = match table.get("direction") {
            None => None,
            Some(v) => match v.get_ref().as_str().and_then(Direction::parse) {
                Some(d) => Some(d),
                None => {
                    self.push(
                        Diagnostic::new(Some(v.span()), format!("bad `direction` of the toxic of {what}"))
                            .label("not a direction")
                            .hint(format!("directions: {}", Direction::NAMES.join(", "))),
                    );
                    ok = false;
                    None
                }
            },
        };
        let toxicity = match table.get("toxicity") {
            None => 1.0,
            Some(v) => match v.get_ref() {
                toml::Value::Float(f) => *f,
                toml::Value::Integer(i) => *i as f64,
                _ => {
                    self.push(
                        Diagnostic::new(Some(v.span()), format!("`toxicity` of the toxic of {what} is not a number"))
                            .label("expected a number from 0 to 1")
                            .hint("toxicity is the share of connections the toxic acts on, e.g. 0.5"),
                    );
                    ok = false;
                    1.0
                }
            },
        };
        if !ok {
            return None;
        }
        let built = toxics::build(kind.name, &|name| {
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        });
        let toxic = match built {
            Ok(toxic) => toxic,
            Err(err) => {
                self.push(
                    Diagnostic::new(Some(span), format!("the `{}` toxic of {what}: {}", kind.name, err.message))
                        .label(format!("bad `{}`", err.parameter))
                        .hint(format!("`{}` takes: {}", kind.name, valid_keys(kind))),
                );
                return None;
            }
        };
        // The TTL here is a placeholder: the runner sets the proxy's own expiry from `for`.
        let mut spec = ToxicSpec::new(toxic, Duration::from_secs(1)).toxicity(toxicity);
        if let Some(direction) = direction {
            spec = spec.direction(direction);
        }
        if let Err(err) = spec.validate() {
            self.push(
                Diagnostic::new(Some(span), format!("the `{}` toxic of {what}: {}", kind.name, err.message))
                    .label(format!("bad `{}`", err.parameter))
                    .hint(format!("`{}` takes: {}", kind.name, valid_keys(kind))),
            );
            return None;
        }
        Some(spec)
    }

    fn param_value(
        &mut self,
        ty: ParamType,
        value: &Spanned<toml::Value>,
        key: &str,
        kind: &KindInfo,
        what: &str,
    ) -> Option<ParamValue> {
        let parsed = match (ty, value.get_ref()) {
            (ParamType::Duration, toml::Value::String(s)) => {
                parse_duration(s).ok().map(ParamValue::Duration)
            }
            (ParamType::Bytes, toml::Value::Integer(i)) => {
                u64::try_from(*i).ok().map(ParamValue::Bytes)
            }
            _ => None,
        };
        if parsed.is_none() {
            self.push(
                Diagnostic::new(
                    Some(value.span()),
                    format!("`{key}` of the `{}` toxic ({what}) must be a {}", kind.name, ty.describe()),
                )
                .label(format!("not a {}", ty.describe()))
                .hint(match ty {
                    ParamType::Duration => "write a duration, e.g. \"300ms\" or \"2s\"".to_string(),
                    ParamType::Bytes => "write a whole number of bytes, e.g. 65536".to_string(),
                }),
            );
        }
        parsed
    }
}
