//! Compiling `[oracles.NAME]` and `[[verify]]`: every oracle a check names must exist and be of
//! a kind the check can read; ids are unique among all checks.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use super::compile::{Compiler, is_plain_name};
use super::compile_load::first_line;
use super::diagnostics::Diagnostic;
use super::model::{Body, Capture, Expect, StatusSet};
use super::model_verify::{
    ArtifactsProbe, CanaryProbe, Comparison, HttpProbe, IsolationProbe, Login, Oracle, OracleKind,
    ProbeRequest, RedisProbe, RedisRead, S3Oracle, ScalarExpect, SqlLedger, SqlProbe, StoreProbe,
    Verification, VerifyProbe,
};
use super::raw::{RawExpect, RawPlanFile, Str};
use super::raw_forms::OrderedMap;
use super::raw_verify::{
    RawArtifacts, RawCanary, RawHttpProbe, RawIsolation, RawLogin, RawOracle, RawRedisProbe,
    RawSqlProbe, RawStoreProbe, RawVerify,
};
use super::request_line::Form;
use super::scope::{RESERVED_NAMES, Scope, is_capture_name};
use crate::template::Template;

/// The request fields shared by `http`, `canary` and `login`.
struct RequestParts<'r> {
    request: Option<&'r Str>,
    headers: Option<&'r OrderedMap<Str>>,
    json: Option<&'r Spanned<toml::Value>>,
    expect: Option<&'r Spanned<RawExpect>>,
}

const VERIFY_KINDS: &str = "http, sql, redis, artifacts, isolation, store, canary";
const COMPARISON_HINT: &str =
    "write a number (`0`) or a comparison string: \"== 0\", \">= 1\", \"< 10\", \"!= 0\"";

impl Compiler<'_> {
    /// Every `[oracles.NAME]`.
    pub(super) fn oracles(&mut self, raw: &RawPlanFile) -> BTreeMap<String, Oracle> {
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
    fn plain_template(&mut self, value: &Str, what: &str) -> Option<Template> {
        let text = self.text(value, what)?;
        self.template(&text, what, &Scope::default())
    }

    /// Every `[[verify]]`, in plan order. `ids` holds the load and fault test ids.
    pub(super) fn verifications(
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
        let id = self.verify_id(v.id.as_ref(), &header, index, ids);
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

    fn verify_id(
        &mut self,
        id: Option<&Str>,
        header: &Range<usize>,
        index: usize,
        ids: &mut BTreeSet<String>,
    ) -> Option<String> {
        let Some(id) = id else {
            self.push(
                Diagnostic::new(
                    Some(header.clone()),
                    format!("verification {index} has no `id`"),
                )
                .label("`id` is required here")
                .hint("give it a short unique id, e.g. id = \"REP\"; `--only REP` selects by it"),
            );
            return None;
        };
        let text = self.text(id, &format!("the id of verification {index}"))?;
        if !is_plain_name(&text.value) {
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!("`{}` is not a valid verification id", text.value),
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
    fn oracle_ref(
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

    fn http_probe(&mut self, raw: &Spanned<RawHttpProbe>, what: &str) -> Option<HttpProbe> {
        let p = raw.get_ref();
        let (login, captured) = self.login(p.login.as_ref(), what)?;
        let scope = Scope {
            captures: &captured,
            later: &[],
            key: false,
        };
        let request = self.probe_request(
            RequestParts {
                request: p.request.as_ref(),
                headers: p.headers.as_ref(),
                json: p.json.as_ref(),
                expect: p.expect.as_ref(),
            },
            raw.span(),
            what,
            &scope,
        )?;
        Some(HttpProbe { login, request })
    }

    /// A check's `login`, and the captures it defines for the check's templates.
    #[allow(clippy::type_complexity)]
    fn login(
        &mut self,
        raw: Option<&Spanned<RawLogin>>,
        what: &str,
    ) -> Option<(Option<Login>, Vec<(String, String)>)> {
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

    fn sql_probe(
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
    pub(super) fn test_ids(
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

    fn redis_probe(
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

    fn artifacts_probe(
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
            tests: scope_tests?,
            orphans: orphans?,
            max_manifest_bytes: max_manifest_bytes?,
        })
    }

    fn isolation_probe(
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

    fn store_probe(
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

    fn canary_probe(&mut self, raw: &Spanned<RawCanary>, what: &str) -> Option<CanaryProbe> {
        let p = raw.get_ref();
        let (login, captured) = self.login(p.login.as_ref(), what)?;
        let scope = Scope {
            captures: &captured,
            later: &[],
            key: false,
        };
        let request = self.probe_request(
            RequestParts {
                request: p.request.as_ref(),
                headers: p.headers.as_ref(),
                json: p.json.as_ref(),
                expect: p.expect.as_ref(),
            },
            raw.span(),
            what,
            &scope,
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
        Some(CanaryProbe {
            login,
            request: request?,
            count: count?,
            record: record?,
            unique: unique?,
        })
    }

    fn required_text(
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

    fn optional_comparison(
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
    fn comparison(&mut self, value: &Spanned<toml::Value>, what: &str) -> Option<Comparison> {
        let parsed = match value.get_ref() {
            toml::Value::Integer(i) => Ok(Comparison {
                op: super::model::CmpOp::Eq,
                value: *i as f64,
            }),
            toml::Value::Float(f) => Ok(Comparison {
                op: super::model::CmpOp::Eq,
                value: *f,
            }),
            toml::Value::String(s) => parse_comparison(s),
            other => Err(format!(
                "a {} is not a number or a comparison",
                other.type_str()
            )),
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

    fn scalar_expect(&mut self, value: &Spanned<toml::Value>, what: &str) -> Option<ScalarExpect> {
        if let toml::Value::String(s) = value.get_ref()
            && let Ok(c) = parse_comparison(s)
        {
            return Some(ScalarExpect::Compare(c));
        }
        self.json_value(value, what, None).map(ScalarExpect::Equals)
    }
}

/// `"bucket/prefix/"` as (bucket, prefix).
fn split_place(place: &str) -> (String, String) {
    let place = place.trim_start_matches('/');
    match place.split_once('/') {
        Some((bucket, prefix)) => (bucket.to_string(), prefix.to_string()),
        None => (place.to_string(), String::new()),
    }
}

/// `"== 0"`, `">= 1"`, `"< 10"`, `"!= 0"`.
pub(super) fn parse_comparison(text: &str) -> Result<Comparison, String> {
    use super::model::CmpOp;
    let text = text.trim();
    let ops = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];
    let Some((op, rest)) = ops
        .iter()
        .find_map(|(s, op)| text.strip_prefix(s).map(|rest| (*op, rest)))
    else {
        return Err(format!(
            "`{text}` does not start with a comparison operator"
        ));
    };
    match rest.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Comparison { op, value }),
        _ => Err(format!("`{}` in `{text}` is not a number", rest.trim())),
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
