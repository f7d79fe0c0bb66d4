//! Compiling `[[load]]`: the scenario or mix, the executor, the samplers and the thresholds,
//! which are checked against the test they belong to (its steps, its gauges, its ledger).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use crate::compile::{Compiler, is_plain_name};
use crate::diagnostics::Diagnostic;
use crate::load::model::{Executor, LoadTest, MixEntry, Sampler};
use crate::load::raw::{RawExecutor, RawLoad, RawSampler};
use crate::model::StatusSet;
use crate::raw::{RawPlanFile, Str};
use crate::request_line::Form;
use crate::scenarios::step::CompiledScenario;
use crate::scope::Scope;
use crate::targets::model::Probe;

/// The first line of a span: `[[load]]` rather than the whole table.
pub(crate) fn first_line(source: &str, span: &Range<usize>) -> Range<usize> {
    let text = source.get(span.clone()).unwrap_or_default();
    let len = text.find('\n').unwrap_or(text.len());
    span.start..span.start + len
}

impl Compiler<'_> {
    pub(crate) fn load_tests(
        &mut self,
        raw: &RawPlanFile,
        scenarios: &BTreeMap<String, CompiledScenario>,
    ) -> Vec<LoadTest> {
        let declared: BTreeSet<&str> = raw
            .scenarios
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for (i, load) in raw.load.iter().flatten().enumerate() {
            let header = first_line(self.source, &load.span());
            let id = match &load.get_ref().id {
                Some(id) => self.load_id(id, i, &mut ids),
                None => {
                    self.push(
                        Diagnostic::new(Some(header.clone()), format!("load test {i} has no `id`"))
                            .label("`id` is required here")
                            .hint("give it a short unique id, e.g. id = \"L1\"; `--only L1` selects by it"),
                    );
                    None
                }
            };
            let label = id.clone().unwrap_or_else(|| i.to_string());
            if load.get_ref().thresholds.as_ref().is_none_or(Vec::is_empty) {
                self.no_thresholds(
                    header.clone(),
                    "load test",
                    "thresholds",
                    "[\"p(95) < 500ms\", \"lost == 0\", \"stuck == 0\"]",
                );
            }
            if let Some(mut test) =
                self.load_test(load.get_ref(), header, &label, &declared, scenarios)
            {
                self.no_fault_windows(&test, load.get_ref(), &label);
                crate::load::threshold_default::add_failure_default(&mut test.thresholds, false);
                if let Some(id) = id {
                    out.push(LoadTest { id, ..test });
                }
            }
        }
        out
    }

    /// Warn that a test states no threshold: it is judged by the defaults alone.
    pub(crate) fn no_thresholds(
        &mut self,
        header: std::ops::Range<usize>,
        kind: &str,
        key: &str,
        example: &str,
    ) {
        self.warnings.push(
            Diagnostic::new(Some(header), format!("this {kind} has no `{key}`"))
                .label("judged by the defaults alone")
                .hint(format!(
                    "it fails only on failed requests (the default `count(failures) == 0`) and on the ledger's default classes; say what must hold, e.g. {key} = {example}"
                )),
        );
    }

    fn load_id(&mut self, id: &Str, i: usize, ids: &mut BTreeMap<String, usize>) -> Option<String> {
        let text = self.text(id, &format!("the id of load test {i}"))?;
        if !is_plain_name(&text.value) {
            self.push(
                Diagnostic::new(Some(text.span), format!("`{}` is not a valid load test id", text.value))
                    .label("invalid id")
                    .hint("ids are letters, digits, `_`, `-` and `.` (no commas or spaces: `--only L1,L2` lists them)"),
            );
            return None;
        }
        if let Some(first) = ids.insert(text.value.clone(), i) {
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!(
                        "load tests {first} and {i} both have the id `{}`",
                        text.value
                    ),
                )
                .label("duplicate id")
                .hint("ids are unique, because `--only` selects tests by id; rename one"),
            );
            return None;
        }
        Some(text.value)
    }

    pub(crate) fn load_test(
        &mut self,
        raw: &RawLoad,
        header: Range<usize>,
        id: &str,
        declared: &BTreeSet<&str>,
        scenarios: &BTreeMap<String, CompiledScenario>,
    ) -> Option<LoadTest> {
        let name = match &raw.name {
            Some(name) => self
                .text(name, &format!("the name of load test `{id}`"))
                .map(|t| t.value),
            None => Some(id.to_string()),
        };
        let mix = self.mix(raw, &header, id, declared);
        let executor = match &raw.executor {
            Some(executor) => self.executor(executor, id),
            None => {
                self.push(
                    Diagnostic::new(Some(header), format!("load test `{id}` has no `executor`"))
                        .label("`executor` is required here")
                        .hint("e.g. executor = { rounds = { concurrency = 20, rounds = 3 } } or executor = { vus = { count = 10, duration = \"30s\" } }"),
                );
                None
            }
        };
        let samplers = self.samplers(raw.sample.as_deref().unwrap_or_default(), id);
        let mix = mix?;
        // Scenarios that failed to compile have their own errors; judge thresholds on the rest.
        let used: Vec<&CompiledScenario> = mix
            .iter()
            .filter_map(|m| scenarios.get(&m.scenario))
            .collect();
        let complete = used.len() == mix.len();
        let thresholds = self.thresholds(
            raw.thresholds.as_deref().unwrap_or_default(),
            id,
            &used,
            samplers.as_deref(),
            complete,
        );
        let graceful_stop = self.graceful_stop(raw, executor.as_ref(), id);
        let samplers = samplers?;
        let mut targets: BTreeSet<String> = used
            .iter()
            .flat_map(|s| s.targets.iter().cloned())
            .collect();
        targets.extend(samplers.iter().map(|s| s.target.clone()));
        Some(LoadTest {
            id: id.to_string(),
            name: name?,
            required: raw.required.unwrap_or(true),
            mix,
            executor: executor?,
            thresholds: thresholds?,
            samplers,
            targets,
            graceful_stop: graceful_stop?,
        })
    }

    /// `graceful_stop`, which only an executor with a duration has a use for. The outer None
    /// is an error (reported); the inner one is "not given".
    fn graceful_stop(
        &mut self,
        raw: &RawLoad,
        executor: Option<&Executor>,
        id: &str,
    ) -> Option<Option<std::time::Duration>> {
        let Some(value) = &raw.graceful_stop else {
            return Some(None);
        };
        let grace = self.parsed_duration(
            value,
            &format!("the graceful_stop of load test `{id}`"),
            true,
        )?;
        if matches!(
            executor,
            Some(Executor::Rounds { .. } | Executor::VusIterations { .. })
        ) {
            self.push(
                Diagnostic::new(
                    Some(value.span()),
                    format!(
                        "load test `{id}` has a `graceful_stop`, but its executor has no duration to stop at"
                    ),
                )
                .label("no duration to stop at")
                .hint("remove graceful_stop, or use an executor with a duration: vus = { count = 10, duration = \"30s\" }, constant_rate or ramping_rate"),
            );
            return None;
        }
        Some(Some(grace))
    }

    fn scenario_ref(&mut self, name: &Str, id: &str, declared: &BTreeSet<&str>) -> Option<String> {
        let text = self.text(name, &format!("the scenario of load test `{id}`"))?;
        if declared.contains(text.value.as_str()) {
            return Some(text.value);
        }
        let list: Vec<&str> = declared.iter().copied().collect();
        self.push(
            Diagnostic::new(
                Some(text.span),
                format!(
                    "load test `{id}` runs the scenario `{}`, which is not defined",
                    text.value
                ),
            )
            .label("unknown scenario")
            .hint(if list.is_empty() {
                format!("define it: [scenarios.{}] with steps = [...]", text.value)
            } else {
                format!("defined scenarios: {}", list.join(", "))
            }),
        );
        None
    }

    fn mix(
        &mut self,
        raw: &RawLoad,
        header: &Range<usize>,
        id: &str,
        declared: &BTreeSet<&str>,
    ) -> Option<Vec<MixEntry>> {
        match (&raw.scenario, &raw.mix) {
            (Some(scenario), None) => {
                let scenario = self.scenario_ref(scenario, id, declared)?;
                Some(vec![MixEntry {
                    scenario,
                    weight: 1,
                }])
            }
            (None, Some(mix)) if !mix.is_empty() => {
                let mut out = Some(Vec::new());
                for entry in mix {
                    let scenario = match &entry.get_ref().scenario {
                        Some(s) => self.scenario_ref(s, id, declared),
                        None => {
                            self.push(
                                Diagnostic::new(
                                    Some(entry.span()),
                                    format!("a mix entry of load test `{id}` has no `scenario`"),
                                )
                                .label("`scenario` is required here")
                                .hint("{ scenario = \"name\", weight = 1 }"),
                            );
                            None
                        }
                    };
                    let weight = match &entry.get_ref().weight {
                        Some(w) => self.positive::<u32>(w, "a mix weight"),
                        None => Some(1),
                    };
                    match (scenario, weight, out.as_mut()) {
                        (Some(scenario), Some(weight), Some(list)) => {
                            list.push(MixEntry { scenario, weight })
                        }
                        _ => out = None,
                    }
                }
                out
            }
            (scenario, mix) => {
                let (message, span) = match (scenario, mix) {
                    (Some(s), Some(_)) => (
                        format!("load test `{id}` has both `scenario` and `mix`"),
                        s.span(),
                    ),
                    (None, Some(_)) => (
                        format!("the mix of load test `{id}` is empty"),
                        header.clone(),
                    ),
                    _ => (
                        format!("load test `{id}` has neither `scenario` nor `mix`"),
                        header.clone(),
                    ),
                };
                self.push(
                    Diagnostic::new(Some(span), message)
                        .label("say what to run")
                        .hint("write scenario = \"name\", or mix = [{ scenario = \"a\", weight = 1 }, { scenario = \"b\", weight = 1 }]"),
                );
                None
            }
        }
    }

    fn executor(&mut self, executor: &Spanned<RawExecutor>, id: &str) -> Option<Executor> {
        const HINT: &str = "executor = { rounds = { concurrency = 20, rounds = 3 } }, \
{ vus = { count = 10, duration = \"30s\" } } or { vus = { count = 10, iterations = 100 } }";
        if let Some(open) = self.open_executor(executor, id) {
            return open;
        }
        let raw = executor.get_ref();
        match (&raw.rounds, &raw.vus) {
            (Some(rounds), None) => {
                let r = rounds.get_ref();
                let concurrency = self
                    .required(
                        r.concurrency.as_ref(),
                        &rounds.span(),
                        "concurrency",
                        id,
                        HINT,
                    )
                    .and_then(|v| self.users(v, "concurrency", id));
                let count = self
                    .required(r.rounds.as_ref(), &rounds.span(), "rounds", id, HINT)
                    .and_then(|v| self.positive::<u32>(v, "rounds"));
                let executor = Executor::Rounds {
                    concurrency: concurrency?,
                    rounds: count?,
                };
                Some(self.users_within_requests(
                    executor,
                    r.concurrency.as_ref(),
                    "concurrency",
                    id,
                ))
            }
            (None, Some(vus)) => {
                let v = vus.get_ref();
                let count = self
                    .required(v.count.as_ref(), &vus.span(), "count", id, HINT)
                    .and_then(|c| self.users(c, "count", id));
                let executor = match (&v.duration, &v.iterations) {
                    (Some(duration), None) => {
                        let duration = self.required_duration(
                            duration,
                            &format!("the duration of load test `{id}`"),
                        );
                        Some(Executor::VusDuration {
                            vus: count?,
                            duration: duration?,
                        })
                    }
                    (None, Some(iterations)) => {
                        let iterations = self.positive::<u64>(iterations, "iterations");
                        Some(Executor::VusIterations {
                            vus: count?,
                            iterations: iterations?,
                        })
                    }
                    (duration, _) => {
                        let message = if duration.is_some() {
                            format!(
                                "the vus executor of load test `{id}` has both `duration` and `iterations`"
                            )
                        } else {
                            format!(
                                "the vus executor of load test `{id}` has neither `duration` nor `iterations`"
                            )
                        };
                        self.push(
                            Diagnostic::new(Some(vus.span()), message)
                                .label("say how long the users run")
                                .hint(HINT),
                        );
                        None
                    }
                };
                executor.map(|e| self.users_within_requests(e, v.count.as_ref(), "count", id))
            }
            (rounds, _) => {
                let message = if rounds.is_some() {
                    format!("load test `{id}` has two executors (`rounds` and `vus`)")
                } else {
                    format!("the executor of load test `{id}` has neither `rounds` nor `vus`")
                };
                self.push(
                    Diagnostic::new(Some(executor.span()), message)
                        .label("one executor")
                        .hint(HINT),
                );
                None
            }
        }
    }

    /// `value`, or an error at `span` saying that `key` is missing.
    fn required<'v>(
        &mut self,
        value: Option<&'v Spanned<i64>>,
        span: &Range<usize>,
        key: &str,
        id: &str,
        hint: &str,
    ) -> Option<&'v Spanned<i64>> {
        if value.is_none() {
            self.push(
                Diagnostic::new(
                    Some(span.clone()),
                    format!("the executor of load test `{id}` has no `{key}`"),
                )
                .label(format!("`{key}` is required here"))
                .hint(hint.to_string()),
            );
        }
        value
    }

    fn samplers(&mut self, raw: &[Spanned<RawSampler>], id: &str) -> Option<Vec<Sampler>> {
        let mut out = Some(Vec::new());
        let mut names = BTreeSet::new();
        let scope = Scope::default();
        for sampler in raw {
            let s = sampler.get_ref();
            let what = format!("a sampler of load test `{id}`");
            let require = |cx: &mut Self, present: bool, key: &str, example: &str| {
                if !present {
                    cx.push(
                        Diagnostic::new(Some(sampler.span()), format!("{what} has no `{key}`"))
                            .label(format!("`{key}` is required here"))
                            .hint(format!("{{ name = \"queue_depth\", request = \"GET ops:/queue\", value = \"$.depth\", every = \"1s\" }}: {key} = {example}")),
                    );
                }
            };
            require(self, s.name.is_some(), "name", "\"queue_depth\"");
            require(self, s.request.is_some(), "request", "\"GET ops:/queue\"");
            require(self, s.value.is_some(), "value", "\"$.depth\"");
            let name = s.name.as_ref().and_then(|n| self.text(n, &what)).and_then(|t| {
                if !is_plain_name(&t.value) || !names.insert(t.value.clone()) {
                    self.push(
                        Diagnostic::new(Some(t.span), format!("`{}` is not a valid or unique gauge name in load test `{id}`", t.value))
                            .label("gauge name")
                            .hint("gauge names are unique per test, of letters, digits, `_`, `-` and `.`, e.g. \"queue_depth\""),
                    );
                    return None;
                }
                Some(t.value)
            });
            let what = format!(
                "sampler `{}` of load test `{id}`",
                name.as_deref().unwrap_or("?")
            );
            let request = s
                .request
                .as_ref()
                .and_then(|r| self.request(r, Form::Targeted, &what, &scope));
            let headers = self.headers(s.headers.as_ref(), &what, &scope);
            let value = s.value.as_ref().and_then(|v| self.jsonpath(v, &what));
            let every = self.duration(s.every.as_ref(), "1s", &format!("`every` of {what}"));
            match (name, request, headers, value, every, out.as_mut()) {
                (
                    Some(name),
                    Some(request),
                    Some(headers),
                    Some((_, value)),
                    Some(every),
                    Some(list),
                ) => {
                    let Some(target) = request.target else {
                        out = None;
                        continue;
                    };
                    list.push(Sampler {
                        name,
                        probe: Probe {
                            method: request.method,
                            path: request.path,
                            headers,
                            expect_status: StatusSet::Success,
                        },
                        target,
                        value,
                        every,
                    });
                }
                _ => out = None,
            }
        }
        out
    }
}
