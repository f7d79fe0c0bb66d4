//! Compiling a timeline entry's `toxic` (with its `proxy` and `for`) into a
//! [`FaultAction::Toxic`]. An unknown kind lists the valid kinds; an unknown or bad parameter
//! lists the kind's valid parameters.

use std::time::Duration;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::duration::parse_duration;
use crate::faults::model::FaultAction;
use crate::proxies::raw::ToxicForm;
use crate::raw::Str;
use shakedown_proxy::toxics::{self, Direction, KindInfo, ParamType, ParamValue, ToxicSpec};

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
    pub(crate) fn toxic_action(
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
                Diagnostic::new(
                    Some(form.span()),
                    format!("{what} has a `toxic` but no `proxy`"),
                )
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
                    format!(
                        "{what} puts a toxic on proxy `{}`, which is not declared",
                        text.value
                    ),
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
                            Diagnostic::new(
                                Some(v.span()),
                                format!("`kind` of the toxic of {what} is not a string"),
                            )
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
                Diagnostic::new(
                    Some(kind_span),
                    format!("`{kind_name}` is not a toxic ({what})"),
                )
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
                        format!(
                            "`{key}` is not a parameter of the `{}` toxic ({what})",
                            kind.name
                        ),
                    )
                    .label("unknown parameter")
                    .hint(format!(
                        "`{}` takes: {}",
                        kind.name,
                        valid_keys(kind)
                    )),
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
                        Diagnostic::new(
                            Some(v.span()),
                            format!("bad `direction` of the toxic of {what}"),
                        )
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
                        Diagnostic::new(
                            Some(v.span()),
                            format!("`toxicity` of the toxic of {what} is not a number"),
                        )
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
                    Diagnostic::new(
                        Some(span),
                        format!("the `{}` toxic of {what}: {}", kind.name, err.message),
                    )
                    .label(format!("bad `{}`", err.parameter))
                    .hint(format!(
                        "`{}` takes: {}",
                        kind.name,
                        valid_keys(kind)
                    )),
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
                Diagnostic::new(
                    Some(span),
                    format!("the `{}` toxic of {what}: {}", kind.name, err.message),
                )
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
                    format!(
                        "`{key}` of the `{}` toxic ({what}) must be {}",
                        kind.name,
                        ty.describe()
                    ),
                )
                .label(format!("expected {}", ty.describe()))
                .hint(match ty {
                    ParamType::Duration => "write a duration, e.g. \"300ms\" or \"2s\"".to_string(),
                    ParamType::Bytes => "write a whole number of bytes, e.g. 65536".to_string(),
                }),
            );
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::faults::model::FaultAction;
    use crate::{Diagnostic, compile_str};
    use shakedown_proxy::{Direction, Toxic};

    fn plan(entry: &str) -> String {
        format!(
            r#"
[plan]
name = "t"
limits = {{ duration = "1m", requests = 100 }}

[proxies.db]
upstream = "127.0.0.1:5432"

[targets.api]
url = "http://127.0.0.1:9"
health = "GET /health"

[scenarios.s]
steps = [{{ request = "GET api:/health" }}]

[[faults]]
id = "C3"
load = {{ scenario = "s", executor = {{ rounds = {{ concurrency = 1, rounds = 1 }} }} }}
timeline = [{entry}]
recovery = {{ probe = "api" }}
"#
        )
    }

    fn errors(entry: &str) -> Vec<Diagnostic> {
        match compile_str(&plan(entry), Path::new("t.toml"), &|_| None) {
            Ok(_) => panic!("expected errors for {entry}"),
            Err(e) => e.diagnostics().to_vec(),
        }
    }

    fn one(entry: &str) -> Diagnostic {
        let all = errors(entry);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().expect("one")
    }

    #[test]
    fn toxics_compile_in_both_forms() {
        let text = plan(
            r#"{ at = "1s", toxic = "down", proxy = "db", for = "3s" }, { after = "1s", proxy = "db", toxic = { kind = "latency", latency = "300ms", jitter = "20ms", direction = "both", toxicity = 0.5 } }"#,
        );
        let plan =
            compile_str(&text, Path::new("t.toml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let test = &plan.faults.tests[0];
        assert!(test.targets.contains("proxies.db"), "{:?}", test.targets);
        let FaultAction::Toxic { proxy, spec, ttl } = &test.timeline[0].action else {
            panic!("a toxic")
        };
        assert_eq!((proxy.as_str(), ttl.as_secs()), ("db", 3));
        assert!(matches!(spec.toxic, Toxic::Down(_)));
        let FaultAction::Toxic { spec, ttl, .. } = &test.timeline[1].action else {
            panic!("a toxic")
        };
        assert_eq!(ttl.as_secs(), 5, "`for` defaults to 5s");
        assert_eq!(spec.direction, Direction::Both);
        assert_eq!(spec.toxicity, 0.5);
        let Toxic::Latency(latency) = spec.toxic else {
            panic!("latency")
        };
        assert_eq!(latency.jitter.as_millis(), 20);
    }

    #[test]
    fn an_unknown_toxic_lists_the_valid_ones() {
        let d = one(r#"{ at = "1s", toxic = "latancy", proxy = "db" }"#);
        assert!(
            d.message.contains("`latancy` is not a toxic"),
            "{}",
            d.message
        );
        assert!(
            d.hint.contains(
                "latency, bandwidth, slicer, limit_data, slow_close, timeout, reset_peer, down"
            ),
            "{}",
            d.hint
        );
    }

    #[test]
    fn a_bad_parameter_lists_the_kinds_parameters() {
        let d = one(r#"{ at = "1s", toxic = { kind = "latency", delay = "1s" }, proxy = "db" }"#);
        assert!(
            d.message
                .contains("`delay` is not a parameter of the `latency` toxic"),
            "{}",
            d.message
        );
        assert!(
            d.hint
                .contains("kind, direction, toxicity, latency, jitter"),
            "{}",
            d.hint
        );
        let d =
            one(r#"{ at = "1s", toxic = { kind = "bandwidth", rate = "fast" }, proxy = "db" }"#);
        assert!(
            d.message.contains("`rate` of the `bandwidth` toxic")
                && d.message.contains("must be an integer >= 0 (bytes)"),
            "{}",
            d.message
        );
        let d = one(r#"{ at = "1s", toxic = { kind = "latency" }, proxy = "db" }"#);
        assert!(d.message.contains("needs `latency`"), "{}", d.message);
        let d = one(
            r#"{ at = "1s", toxic = { kind = "latency", latency = "10ms", jitter = "50ms" }, proxy = "db" }"#,
        );
        assert!(d.label.contains("jitter"), "{d:?}");
        let d = one(r#"{ at = "1s", toxic = { kind = "down", toxicity = 0.5 }, proxy = "db" }"#);
        assert!(d.label.contains("toxicity"), "{d:?}");
        let d = one(
            r#"{ at = "1s", toxic = { kind = "latency", latency = "1s", direction = "sideways" }, proxy = "db" }"#,
        );
        assert!(d.hint.contains("upstream, downstream, both"), "{}", d.hint);
    }

    #[test]
    fn a_toxic_needs_a_declared_proxy() {
        let d = one(r#"{ at = "1s", toxic = "down" }"#);
        assert!(
            d.message.contains("has a `toxic` but no `proxy`"),
            "{}",
            d.message
        );
        assert!(d.hint.contains("declared proxies: db"), "{}", d.hint);
        let d = one(r#"{ at = "1s", toxic = "down", proxy = "dbx" }"#);
        assert!(
            d.message.contains("proxy `dbx`, which is not declared"),
            "{}",
            d.message
        );
    }
}
