//! Compiling the verifications that read an oracle: `sql`, `redis`, `artifacts`, `isolation`
//! and `store`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::raw::Str;
use crate::scope::Scope;
use crate::verify::compile::split_place;
use crate::verify::model::{
    ArtifactsProbe, IsolationProbe, Oracle, RedisProbe, RedisRead, SqlLedger, SqlProbe, StoreProbe,
};
use crate::verify::raw::{RawArtifacts, RawIsolation, RawRedisProbe, RawSqlProbe, RawStoreProbe};

impl Compiler<'_> {
    pub(crate) fn sql_probe(
        &mut self,
        raw: &Spanned<RawSqlProbe>,
        what: &str,
        oracles: &BTreeMap<String, Oracle>,
        tests: &BTreeSet<String>,
    ) -> Option<SqlProbe> {
        let p = raw.get_ref();
        let oracle = self.oracle_ref(p.oracle.as_ref(), raw.span(), what, &["postgres"], oracles);
        let query = match &p.query {
            Some(q) => self
                .text(q, &format!("the query of {what}"))
                .map(|t| t.value),
            None => {
                self.push(
                    Diagnostic::new(Some(raw.span()), format!("{what} has no `query`"))
                        .label("`query` is required here")
                        .hint(
                            "e.g. query = \"SELECT count(*) FROM runs WHERE status = 'running'\"",
                        ),
                );
                None
            }
        };
        let rows = self.optional_comparison(p.rows.as_ref(), &format!("`rows` of {what}"));
        let scalar = match &p.scalar {
            Some(s) => self
                .scalar_expect(s, &format!("`scalar` of {what}"))
                .map(Some),
            None => Some(None),
        };
        let ledger = match &p.ledger {
            Some(l) => {
                let l = l.get_ref();
                let column = |cx: &mut Self, v: &Option<Str>, key: &str| match v {
                    Some(v) => cx
                        .text(v, &format!("`ledger.{key}` of {what}"))
                        .map(|t| Some(t.value)),
                    None => Some(None),
                };
                let key = column(self, &l.key, "key");
                let state = column(self, &l.state, "state");
                let results = column(self, &l.results, "results");
                let scope = self.test_ids(l.tests.as_ref(), what, tests);
                match (key?, state?) {
                    (Some(key), Some(state)) => Some(Some(SqlLedger {
                        key,
                        state,
                        results: results?,
                        tests: scope?,
                    })),
                    _ => {
                        self.push(
                            Diagnostic::new(Some(raw.span()), format!("`ledger` of {what} needs `key` and `state`"))
                                .label("incomplete ledger mapping")
                                .hint("name the columns: ledger = { key = \"key\", state = \"status\", results = \"result_count\" }"),
                        );
                        None
                    }
                }
            }
            None => Some(None),
        };
        let (rows, scalar, ledger) = (rows?, scalar?, ledger?);
        if rows.is_none() && scalar.is_none() && ledger.is_none() {
            self.push(
                Diagnostic::new(Some(raw.span()), format!("{what} asserts nothing"))
                    .label("no expectation")
                    .hint("add rows = N, scalar = VALUE or ledger = { key = ..., state = ... }: a check that cannot fail is not a check"),
            );
            return None;
        }
        Some(SqlProbe {
            oracle: oracle?,
            query: query?,
            rows,
            scalar,
            ledger,
        })
    }

    /// `tests = [...]`: ids of load or fault tests; empty means all.
    pub(crate) fn test_ids(
        &mut self,
        list: Option<&Vec<Str>>,
        what: &str,
        tests: &BTreeSet<String>,
    ) -> Option<Vec<String>> {
        let mut out = Some(Vec::new());
        for id in list.into_iter().flatten() {
            let text = self.text(id, &format!("`tests` of {what}"))?;
            if !tests.contains(&text.value) {
                let known: Vec<&str> = tests.iter().map(String::as_str).collect();
                self.push(
                    Diagnostic::new(
                        Some(text.span),
                        format!(
                            "`tests` of {what} names `{}`, which is not a load or fault test",
                            text.value
                        ),
                    )
                    .label("unknown test")
                    .hint(format!("test ids: {}", known.join(", "))),
                );
                out = None;
            } else if let Some(list) = out.as_mut() {
                list.push(text.value);
            }
        }
        out
    }

    pub(crate) fn redis_probe(
        &mut self,
        raw: &Spanned<RawRedisProbe>,
        what: &str,
        oracles: &BTreeMap<String, Oracle>,
    ) -> Option<RedisProbe> {
        let p = raw.get_ref();
        let oracle = self.oracle_ref(p.oracle.as_ref(), raw.span(), what, &["redis"], oracles);
        let reads: Vec<(&str, &Str)> = [
            ("get", &p.get),
            ("exists", &p.exists),
            ("ttl", &p.ttl),
            ("scan", &p.scan),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let [(command, key)] = reads.as_slice() else {
            self.push(
                Diagnostic::new(Some(raw.span()), format!("{what} needs exactly one of get, exists, ttl or scan"))
                    .label("one read")
                    .hint("e.g. redis = { oracle = \"cache\", scan = \"worker:*:boot\", count = \">= 1\" }"),
            );
            return None;
        };
        let template = self.plain_template(key, &format!("`{command}` of {what}"))?;
        let read = match *command {
            "get" => RedisRead::Get(template),
            "exists" => RedisRead::Exists(template),
            "ttl" => RedisRead::Ttl(template),
            _ => RedisRead::Scan(template),
        };
        let misplaced = |cx: &mut Self, present: Option<Range<usize>>, key: &str, allowed: &str| {
            if let Some(span) = present
                && !allowed.split(',').any(|a| a == *command)
            {
                cx.push(
                    Diagnostic::new(
                        Some(span),
                        format!("`{key}` of {what} does not apply to `{command}`"),
                    )
                    .label("not used")
                    .hint(format!(
                        "`{key}` goes with {}",
                        allowed.replace(',', " or ")
                    )),
                );
            }
        };
        misplaced(self, p.equals.as_ref().map(|v| v.span()), "equals", "get");
        misplaced(self, p.seconds.as_ref().map(|v| v.span()), "seconds", "ttl");
        misplaced(self, p.count.as_ref().map(|v| v.span()), "count", "scan");
        let mut json = Some(Vec::new());
        for (source, value) in p.json.iter().flat_map(|j| j.0.iter()) {
            misplaced(self, Some(value.span()), "json", "get");
            let field = format!("`json` `{source}` of {what}");
            let path = self.jsonpath(&Spanned::new(value.span(), source.clone()), &field);
            let expected = self.json_value(value, &field, None);
            match (path, expected, json.as_mut()) {
                (Some((source, path)), Some(expected), Some(list)) => {
                    list.push((source, path, expected))
                }
                _ => json = None,
            }
        }
        let seconds = match &p.seconds {
            Some(s) => {
                let value = Spanned::new(s.span(), toml::Value::String(s.get_ref().clone()));
                self.comparison(&value, &format!("`seconds` of {what}"))
                    .map(Some)
            }
            None => Some(None),
        };
        let count = self.optional_comparison(p.count.as_ref(), &format!("`count` of {what}"));
        let equals = match &p.equals {
            Some(e) => self
                .text(e, &format!("`equals` of {what}"))
                .map(|t| Some(t.value)),
            None => Some(None),
        };
        let (seconds, count, equals, json) = (seconds?, count?, equals?, json?);
        let checks_something = match *command {
            "ttl" => seconds.is_some(),
            "scan" => count.is_some(),
            _ => true,
        };
        if !checks_something {
            self.push(
                Diagnostic::new(
                    Some(raw.span()),
                    format!("{what} asserts nothing about its `{command}`"),
                )
                .label("no expectation")
                .hint(if *command == "ttl" {
                    "add seconds = \"> 0\""
                } else {
                    "add count = \">= 1\""
                }),
            );
            return None;
        }
        Some(RedisProbe {
            oracle: oracle?,
            read,
            equals,
            json,
            present: p.present.unwrap_or(true),
            seconds,
            count,
        })
    }

    pub(crate) fn artifacts_probe(
        &mut self,
        raw: &Spanned<RawArtifacts>,
        what: &str,
        oracles: &BTreeMap<String, Oracle>,
        tests: &BTreeSet<String>,
    ) -> Option<ArtifactsProbe> {
        let p = raw.get_ref();
        let oracle = self.oracle_ref(
            p.oracle.as_ref(),
            raw.span(),
            what,
            &["local", "s3"],
            oracles,
        );
        let bucket = self.required_text(
            p.bucket.as_ref(),
            raw.span(),
            what,
            "bucket",
            "bucket = \"runs\"",
        );
        let job = [(
            "id".to_string(),
            "the artifact check (the job's id)".to_string(),
        )];
        let scope = Scope {
            captures: &job,
            later: &[],
            key: true,
        };
        let prefix = match &p.prefix {
            Some(v) => self
                .text(v, &format!("`prefix` of {what}"))
                .and_then(|t| self.template(&t, &format!("`prefix` of {what}"), &scope)),
            None => {
                self.push(
                    Diagnostic::new(Some(raw.span()), format!("{what} has no `prefix`"))
                        .label("`prefix` is required here")
                        .hint("say where one job's package lives: prefix = \"runs/{{ id }}/\""),
                );
                None
            }
        };
        let manifest = match &p.manifest {
            Some(m) => self
                .text(m, &format!("`manifest` of {what}"))
                .map(|t| t.value),
            None => Some("manifest.json".to_string()),
        };
        let manifest_files = match &p.manifest_files {
            Some(m) => self
                .jsonpath(m, &format!("`manifest_files` of {what}"))
                .map(|p| p.1),
            None => serde_json_path::JsonPath::parse("$.files[*]").ok(),
        };
        let mut files = Some(Vec::new());
        for f in p.files.iter().flatten() {
            match (self.text(f, &format!("`files` of {what}")), files.as_mut()) {
                (Some(t), Some(list)) => list.push(t.value),
                _ => files = None,
            }
        }
        let mut expected_sha256 = Some(Vec::new());
        for (file, value) in p.expected_sha256.iter().flat_map(|m| m.0.iter()) {
            let field = format!("`expected_sha256.{file}` of {what}");
            match (
                self.text(value, &field)
                    .and_then(|t| self.template(&t, &field, &scope)),
                expected_sha256.as_mut(),
            ) {
                (Some(t), Some(list)) => list.push((file.clone(), t)),
                _ => expected_sha256 = None,
            }
        }
        let scope_tests = self.test_ids(p.tests.as_ref(), what, tests);
        let orphans = match &p.orphans {
            Some(o) => self
                .text(o, &format!("`orphans` of {what}"))
                .map(|t| Some(t.value)),
            None => Some(None),
        };
        let max_manifest_bytes = match &p.max_manifest_bytes {
            Some(m) => self.positive::<u64>(m, &format!("`max_manifest_bytes` of {what}")),
            None => Some(4 * 1024 * 1024),
        };
        Some(ArtifactsProbe {
            oracle: oracle?,
            bucket: bucket?,
            prefix: prefix?,
            manifest: manifest?,
            manifest_files: manifest_files?,
            files: files?,
            expected_sha256: expected_sha256?,
            tests: scope_tests?,
            orphans: orphans?,
            max_manifest_bytes: max_manifest_bytes?,
        })
    }

    pub(crate) fn isolation_probe(
        &mut self,
        raw: &Spanned<RawIsolation>,
        what: &str,
        oracles: &BTreeMap<String, Oracle>,
    ) -> Option<IsolationProbe> {
        let p = raw.get_ref();
        let oracle = self.oracle_ref(
            p.oracle.as_ref(),
            raw.span(),
            what,
            &["local", "s3"],
            oracles,
        );
        let allowed = self
            .required_text(
                p.allowed.as_ref(),
                raw.span(),
                what,
                "allowed",
                "allowed = \"runs-bucket/runs/\"",
            )
            .map(|a| split_place(&a));
        let mut scan = Some(Vec::new());
        match &p.scan {
            Some(list) if !list.is_empty() => {
                for place in list {
                    match (
                        self.text(place, &format!("`scan` of {what}")),
                        scan.as_mut(),
                    ) {
                        (Some(t), Some(out)) => out.push(split_place(&t.value)),
                        _ => scan = None,
                    }
                }
            }
            _ => {
                self.push(
                    Diagnostic::new(Some(raw.span()), format!("{what} lists nothing: `scan` is missing or empty"))
                        .label("`scan` is required here")
                        .hint("list every bucket the app can write to: scan = [\"runs-bucket\", \"other-bucket\"]"),
                );
                scan = None;
            }
        }
        let min_objects = match &p.min_objects {
            Some(m) if *m.get_ref() >= 0 => Some(*m.get_ref() as u64),
            Some(m) => {
                self.push(
                    Diagnostic::new(
                        Some(m.span()),
                        format!("`min_objects` of {what} cannot be negative"),
                    )
                    .label("negative")
                    .hint("write 0 or more"),
                );
                None
            }
            None => Some(1),
        };
        Some(IsolationProbe {
            oracle: oracle?,
            allowed: allowed?,
            scan: scan?,
            min_objects: min_objects?,
        })
    }

    pub(crate) fn store_probe(
        &mut self,
        raw: &Spanned<RawStoreProbe>,
        what: &str,
        oracles: &BTreeMap<String, Oracle>,
    ) -> Option<StoreProbe> {
        let p = raw.get_ref();
        let oracle = self.oracle_ref(
            p.oracle.as_ref(),
            raw.span(),
            what,
            &["local", "s3"],
            oracles,
        );
        let bucket = self.required_text(
            p.bucket.as_ref(),
            raw.span(),
            what,
            "bucket",
            "bucket = \"runs\"",
        );
        let prefix = match &p.prefix {
            Some(v) => self
                .text(v, &format!("`prefix` of {what}"))
                .map(|t| t.value),
            None => Some("shakedown-probe/".to_string()),
        };
        let count = match &p.count {
            Some(c) => self.positive::<u32>(c, &format!("`count` of {what}")),
            None => Some(5),
        };
        let size = match &p.size {
            Some(s) if *s.get_ref() > 64 * 1024 * 1024 => {
                self.push(
                    Diagnostic::new(Some(s.span()), format!("`size` of {what} is over 64 MiB"))
                        .label("too large")
                        .hint("probe objects measure latency; use a size up to 67108864"),
                );
                None
            }
            Some(s) => self.positive::<u64>(s, &format!("`size` of {what}")),
            None => Some(65536),
        };
        Some(StoreProbe {
            oracle: oracle?,
            bucket: bucket?,
            prefix: prefix?,
            count: count?,
            size: size?,
        })
    }
}
