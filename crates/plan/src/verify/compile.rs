//! Compiling `[oracles.NAME]` and `[[verify]]`: every oracle a check names must exist and be of
//! a kind the check can read; ids are unique among all checks.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use crate::compile::{Compiler, is_plain_name};
use crate::diagnostics::Diagnostic;
use crate::load::compile::first_line;
use crate::raw::{RawPlanFile, Str};
use crate::scope::Scope;
use crate::template::Template;
use crate::verify::model::{
    Comparison, Oracle, OracleKind, S3Oracle, ScalarExpect, Verification, VerifyProbe,
};
use crate::verify::raw::{RawOracle, RawVerify};

const VERIFY_KINDS: &str = "http, sql, redis, artifacts, isolation, store, canary";
const COMPARISON_HINT: &str =
    "write a number (`0`) or a comparison string: \"== 0\", \">= 1\", \"< 10\", \"!= 0\"";

impl Compiler<'_> {
    /// Every `[oracles.NAME]`.
    pub(crate) fn oracles(&mut self, raw: &RawPlanFile) -> BTreeMap<String, Oracle> {
        let mut out = BTreeMap::new();
        for (name, oracle) in raw.oracles.iter().flatten() {
            if let Some(compiled) = self.oracle(name, oracle) {
                out.insert(name.clone(), compiled);
            }
        }
        out
    }

    fn oracle(&mut self, name: &str, raw: &Spanned<RawOracle>) -> Option<Oracle> {
        let what = format!("oracle `{name}`");
        let o = raw.get_ref();
        let given: Vec<(&str, &Str)> = [
            ("postgres", &o.postgres),
            ("redis", &o.redis),
            ("local", &o.local),
            ("s3", &o.s3),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let header = first_line(self.source, &raw.span());
        let [(kind, value)] = given.as_slice() else {
            let message = if given.is_empty() {
                format!("{what} says what it is with none of postgres, redis, local or s3")
            } else {
                let names: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
                format!("{what} has {} at once", names.join(" and "))
            };
            self.push(
                Diagnostic::new(Some(header), message)
                    .label("exactly one kind")
                    .hint("write one of: postgres = \"postgres://...\", redis = \"redis://...\", local = \"DIR\", s3 = \"http://HOST:PORT\""),
            );
            return None;
        };
        let timeout = self.duration(o.timeout.as_ref(), "10s", &format!("`timeout` of {what}"))?;
        let field = |k: &str| format!("`{k}` of {what}");
        let kind = match *kind {
            "postgres" => OracleKind::Postgres(self.plain_template(value, &field("postgres"))?),
            "redis" => OracleKind::Redis(self.plain_template(value, &field("redis"))?),
            "local" => OracleKind::Local(self.text(value, &field("local"))?.value),
            _ => {
                let (Some(access), Some(secret)) = (&o.access_key, &o.secret_key) else {
                    self.push(
                        Diagnostic::new(Some(header), format!("{what} needs `access_key` and `secret_key`"))
                            .label("credentials missing")
                            .hint("give both, usually from secrets: access_key = \"{{ secrets.s3_access_key }}\", secret_key = \"{{ secrets.s3_secret_key }}\""),
                    );
                    return None;
                };
                let access_key = Some(self.plain_template(access, &field("access_key"))?);
                let secret_key = Some(self.plain_template(secret, &field("secret_key"))?);
                let region = match &o.region {
                    Some(r) => self.text(r, &field("region"))?.value,
                    None => "us-east-1".to_string(),
                };
                OracleKind::S3(S3Oracle {
                    endpoint: self.plain_template(value, &field("s3"))?,
                    region,
                    access_key,
                    secret_key,
                })
            }
        };
        if !matches!(kind, OracleKind::S3(_)) {
            for (key, v) in [
                ("region", &o.region),
                ("access_key", &o.access_key),
                ("secret_key", &o.secret_key),
            ] {
                if let Some(v) = v {
                    self.push(
                        Diagnostic::new(
                            Some(v.span()),
                            format!("`{key}` of {what} only applies to an s3 oracle"),
                        )
                        .label("not used")
                        .hint("remove it, or make the oracle s3 = \"http://HOST:PORT\""),
                    );
                }
            }
        }
        Some(Oracle {
            name: name.to_string(),
            kind,
            timeout,
        })
    }

    /// A template that reads only builtins (secrets, vars).
    pub(crate) fn plain_template(&mut self, value: &Str, what: &str) -> Option<Template> {
        let text = self.text(value, what)?;
        self.template(&text, what, &Scope::default())
    }

    /// Every `[[verify]]`, in plan order. `ids` holds the load and fault test ids.
    pub(crate) fn verifications(
        &mut self,
        raw: &RawPlanFile,
        oracles: &BTreeMap<String, Oracle>,
        mut ids: BTreeSet<String>,
    ) -> Vec<Verification> {
        let tests: BTreeSet<String> = ids.clone();
        let mut out = Vec::new();
        for (index, verify) in raw.verify.iter().flatten().enumerate() {
            if let Some(v) = self.verification(index, verify, oracles, &mut ids, &tests) {
                out.push(v);
            }
        }
        out
    }

    fn verification(
        &mut self,
        index: usize,
        raw: &Spanned<RawVerify>,
        oracles: &BTreeMap<String, Oracle>,
        ids: &mut BTreeSet<String>,
        tests: &BTreeSet<String>,
    ) -> Option<Verification> {
        let header = first_line(self.source, &raw.span());
        let v = raw.get_ref();
        let id = self.check_id("verification", "REP", v.id.as_ref(), &header, index, ids);
        let name = match &v.name {
            Some(n) => self.text(n, "the name of a verification").map(|t| t.value),
            None => id.clone(),
        };
        let what = format!("verification `{}`", id.as_deref().unwrap_or("?"));
        let kinds: Vec<&str> = [
            ("http", v.http.is_some()),
            ("sql", v.sql.is_some()),
            ("redis", v.redis.is_some()),
            ("artifacts", v.artifacts.is_some()),
            ("isolation", v.isolation.is_some()),
            ("store", v.store.is_some()),
            ("canary", v.canary.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(k, _)| k)
        .collect();
        if kinds.len() != 1 {
            let message = if kinds.is_empty() {
                format!("{what} says what to check with none of {VERIFY_KINDS}")
            } else {
                format!("{what} has {} at once", kinds.join(" and "))
            };
            self.push(
                Diagnostic::new(Some(header), message)
                    .label("exactly one kind")
                    .hint(format!(
                        "give each [[verify]] exactly one of {VERIFY_KINDS}, e.g. sql = {{ oracle = \"db\", query = \"SELECT 1\", rows = 1 }}"
                    )),
            );
            return None;
        }
        let probe = if let Some(p) = &v.http {
            self.http_probe(p, &what).map(VerifyProbe::Http)
        } else if let Some(p) = &v.sql {
            self.sql_probe(p, &what, oracles, tests)
                .map(VerifyProbe::Sql)
        } else if let Some(p) = &v.redis {
            self.redis_probe(p, &what, oracles).map(VerifyProbe::Redis)
        } else if let Some(p) = &v.artifacts {
            self.artifacts_probe(p, &what, oracles, tests)
                .map(VerifyProbe::Artifacts)
        } else if let Some(p) = &v.isolation {
            self.isolation_probe(p, &what, oracles)
                .map(VerifyProbe::Isolation)
        } else if let Some(p) = &v.store {
            self.store_probe(p, &what, oracles).map(VerifyProbe::Store)
        } else {
            let p = v.canary.as_ref()?;
            self.canary_probe(p, &what).map(VerifyProbe::Canary)
        };
        Some(Verification {
            id: id?,
            name: name?,
            required: v.required.unwrap_or(true),
            probe: probe?,
        })
    }

    /// A check's id: present, a plain name, and unique among every check's (`ids`);
    /// `kind` names the check ("fault test") and `example` an id ("C1") for messages.
    pub(crate) fn check_id(
        &mut self,
        kind: &str,
        example: &str,
        id: Option<&Str>,
        header: &Range<usize>,
        index: usize,
        ids: &mut BTreeSet<String>,
    ) -> Option<String> {
        let Some(id) = id else {
            self.push(
                Diagnostic::new(
                    Some(header.clone()),
                    format!("{kind} {index} has no `id`"),
                )
                .label("`id` is required here")
                .hint(format!(
                    "give it a short unique id, e.g. id = \"{example}\"; `--only {example}` selects by it"
                )),
            );
            return None;
        };
        let text = self.text(id, &format!("the id of {kind} {index}"))?;
        if !is_plain_name(&text.value) {
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!("`{}` is not a valid {kind} id", text.value),
                )
                .label("invalid id")
                .hint("ids are letters, digits, `_`, `-` and `.`"),
            );
            return None;
        }
        if !ids.insert(text.value.clone()) {
            self.push(
                Diagnostic::new(Some(text.span), format!("the id `{}` is used twice", text.value))
                    .label("duplicate id")
                    .hint("load, fault and verification ids are unique, because `--only` selects by id; rename one"),
            );
            return None;
        }
        Some(text.value)
    }

    /// The oracle a check names: it must exist and be one of `kinds`.
    pub(crate) fn oracle_ref(
        &mut self,
        name: Option<&Str>,
        span: Range<usize>,
        what: &str,
        kinds: &[&str],
        oracles: &BTreeMap<String, Oracle>,
    ) -> Option<String> {
        let Some(name) = name else {
            self.push(
                Diagnostic::new(Some(span), format!("{what} has no `oracle`"))
                    .label("`oracle` is required here")
                    .hint("name an [oracles.NAME] table, e.g. oracle = \"db\""),
            );
            return None;
        };
        let text = self.text(name, &format!("the oracle of {what}"))?;
        let declared: Vec<String> = oracles
            .iter()
            .map(|(n, o)| format!("{n} ({})", o.kind.name()))
            .collect();
        let Some(oracle) = oracles.get(&text.value) else {
            let known = if declared.is_empty() {
                "none is defined".to_string()
            } else {
                format!("defined: {}", declared.join(", "))
            };
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!(
                        "{what} reads the oracle `{}`, which is not defined ({known})",
                        text.value
                    ),
                )
                .label("unknown oracle")
                .hint(format!(
                    "define it: [oracles.{}] with one of {}",
                    text.value,
                    kinds.join(", ")
                )),
            );
            return None;
        };
        if !kinds.contains(&oracle.kind.name()) {
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!(
                        "{what} cannot read the {} oracle `{}`",
                        oracle.kind.name(),
                        text.value
                    ),
                )
                .label("wrong kind of oracle")
                .hint(format!("it reads a {} oracle", kinds.join(" or "))),
            );
            return None;
        }
        Some(text.value)
    }

    pub(crate) fn required_text(
        &mut self,
        value: Option<&Str>,
        span: Range<usize>,
        what: &str,
        key: &str,
        example: &str,
    ) -> Option<String> {
        match value {
            Some(v) => self.text(v, &format!("`{key}` of {what}")).map(|t| t.value),
            None => {
                self.push(
                    Diagnostic::new(Some(span), format!("{what} has no `{key}`"))
                        .label(format!("`{key}` is required here"))
                        .hint(format!("e.g. {example}")),
                );
                None
            }
        }
    }

    pub(crate) fn optional_comparison(
        &mut self,
        value: Option<&Spanned<toml::Value>>,
        what: &str,
    ) -> Option<Option<Comparison>> {
        match value {
            Some(v) => self.comparison(v, what).map(Some),
            None => Some(None),
        }
    }

    /// `5` or `">= 1"`.
    pub(crate) fn comparison(
        &mut self,
        value: &Spanned<toml::Value>,
        what: &str,
    ) -> Option<Comparison> {
        let parsed = match value.get_ref() {
            toml::Value::Integer(i) => Ok(Comparison {
                op: crate::expr::CmpOp::Eq,
                value: *i as f64,
            }),
            toml::Value::Float(f) => Ok(Comparison {
                op: crate::expr::CmpOp::Eq,
                value: *f,
            }),
            toml::Value::String(s) => parse_comparison(s),
            other => Err(ComparisonError::WrongType(other.type_str())),
        };
        match parsed {
            Ok(c) => Some(c),
            Err(e) => {
                self.push(
                    Diagnostic::new(Some(value.span()), format!("{what}: {e}"))
                        .label("not a comparison")
                        .hint(COMPARISON_HINT),
                );
                None
            }
        }
    }

    pub(crate) fn scalar_expect(
        &mut self,
        value: &Spanned<toml::Value>,
        what: &str,
    ) -> Option<ScalarExpect> {
        if let toml::Value::String(s) = value.get_ref()
            && let Ok(c) = parse_comparison(s)
        {
            return Some(ScalarExpect::Compare(c));
        }
        self.json_value(value, what, None).map(ScalarExpect::Equals)
    }
}

/// `"bucket/prefix/"` as (bucket, prefix).
pub(crate) fn split_place(place: &str) -> (String, String) {
    let place = place.trim_start_matches('/');
    match place.split_once('/') {
        Some((bucket, prefix)) => (bucket.to_string(), prefix.to_string()),
        None => (place.to_string(), String::new()),
    }
}

/// Why an expectation is not a comparison.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ComparisonError {
    /// A string that does not start with an operator.
    #[error("`{0}` does not start with a comparison operator")]
    NoOperator(String),
    /// An operator followed by something that is not a finite number.
    #[error("`{number}` in `{text}` is not a number")]
    NotANumber {
        /// What follows the operator.
        number: String,
        /// The whole comparison.
        text: String,
    },
    /// A TOML value that is neither a number nor a string.
    #[error("a {0} is not a number or a comparison")]
    WrongType(&'static str),
}

/// `"== 0"`, `">= 1"`, `"< 10"`, `"!= 0"`.
pub(crate) fn parse_comparison(text: &str) -> Result<Comparison, ComparisonError> {
    use crate::expr::CmpOp;
    let text = text.trim();
    let Some((op, rest)) = CmpOp::strip_prefix(text) else {
        return Err(ComparisonError::NoOperator(text.to_string()));
    };
    match rest.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Comparison { op, value }),
        _ => Err(ComparisonError::NotANumber {
            number: rest.trim().to_string(),
            text: text.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_parse_and_hold() {
        let c = parse_comparison(">= 2").unwrap();
        assert!(c.holds(2.0) && c.holds(3.0) && !c.holds(1.0));
        assert!(parse_comparison("== 0").unwrap().holds(0.0));
        assert!(parse_comparison("< 1.5").unwrap().holds(1.0));
        assert!(parse_comparison("2").is_err());
        assert!(parse_comparison(">= x").is_err());
    }

    #[test]
    fn places_split_into_bucket_and_prefix() {
        assert_eq!(split_place("runs"), ("runs".into(), String::new()));
        assert_eq!(split_place("runs/a/b/"), ("runs".into(), "a/b/".into()));
    }
}
