//! Compiling `[scenarios.NAME]` and their steps: HTTP steps (request, headers, body, captures,
//! expectations, poll-until, track) and think steps, with each step's template scope.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use crate::compile::{Compiler, is_plain_name, key_path};
use crate::diagnostics::Diagnostic;
use crate::raw::{RawPlanFile, Str};
use crate::request_line::Form;
use crate::scenarios::model::{
    Body, Capture, Condition, Expect, HttpStep, JsonAssertion, PollUntil, Scenario, Step, StepKind,
};
use crate::scenarios::raw::{RawExpect, RawPoll, RawStep};
use crate::scope::{RESERVED_NAMES, Scope, is_capture_name};

/// A compiled scenario with what load tests need to know about it.
pub(crate) struct CompiledScenario {
    /// The validated scenario.
    pub scenario: Scenario,
    /// Whether any step tracks work in the ledger.
    pub tracks: bool,
    /// Every target its steps and track reads use.
    pub targets: BTreeSet<String>,
}

/// Where a step is, for messages: "step `create` of scenario `s`".
pub(crate) struct StepPlace<'p> {
    /// The scenario's name.
    pub scenario: &'p str,
    /// The step's name.
    pub name: String,
}

impl StepPlace<'_> {
    /// "FIELD of step `NAME` (scenario `S`)".
    pub fn of(&self, field: &str) -> String {
        format!(
            "{field} of step `{}` (scenario `{}`)",
            self.name, self.scenario
        )
    }
}

impl Compiler<'_> {
    pub(crate) fn scenarios(&mut self, raw: &RawPlanFile) -> BTreeMap<String, CompiledScenario> {
        let mut out = BTreeMap::new();
        for (name, scenario) in raw.scenarios.iter().flatten() {
            let Some(steps) = scenario.steps.as_ref() else {
                self.missing(
                    &key_path!["scenarios", name],
                    "steps",
                    "a scenario is a list of steps: steps = [{ request = \"GET api:/health\" }]",
                );
                continue;
            };
            if steps.is_empty() {
                let span = self
                    .locator
                    .value_span(&key_path!["scenarios", name, "steps"]);
                self.push(
                    Diagnostic::new(span, format!("scenario `{name}` has no steps"))
                        .label("empty")
                        .hint("add at least one step: { request = \"GET api:/health\" }"),
                );
                continue;
            }
            if let Some(compiled) = self.scenario(name, steps) {
                out.insert(name.clone(), compiled);
            }
        }
        out
    }

    fn scenario(&mut self, scenario: &str, steps: &[Spanned<RawStep>]) -> Option<CompiledScenario> {
        // Every capture of the scenario, to tell "captured later" from "never captured".
        let mut all_captures: Vec<(usize, String, String)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, step) in steps.iter().enumerate() {
            let name = self.step_name(scenario, i, step, &mut seen);
            for (capture, _) in step.get_ref().capture.iter().flat_map(|c| c.0.iter()) {
                all_captures.push((i, capture.clone(), name.clone()));
            }
            names.push(name);
        }
        let mut compiled = Some(Vec::new());
        let mut tracks = false;
        let mut targets = BTreeSet::new();
        for (i, step) in steps.iter().enumerate() {
            let before: Vec<(String, String)> = all_captures
                .iter()
                .filter(|(j, ..)| *j < i)
                .map(|(_, c, s)| (c.clone(), s.clone()))
                .collect();
            let own: Vec<(String, String)> = all_captures
                .iter()
                .filter(|(j, ..)| *j == i)
                .map(|(_, c, s)| (c.clone(), s.clone()))
                .collect();
            let later: Vec<(String, String)> = all_captures
                .iter()
                .filter(|(j, ..)| *j >= i)
                .map(|(_, c, s)| (c.clone(), s.clone()))
                .collect();
            let place = StepPlace {
                scenario,
                name: names[i].clone(),
            };
            let kind = self.step_kind(&place, step, &before, &own, &later);
            match (kind, compiled.as_mut()) {
                (Some(kind), Some(list)) => {
                    match &kind {
                        StepKind::Http(http) => {
                            targets.insert(http.target.clone());
                            if let Some(track) = &http.track {
                                tracks = true;
                                targets.insert(track.read.target.clone());
                            }
                        }
                        StepKind::Ws(ws) => {
                            targets.insert(ws.request.target.clone());
                        }
                        StepKind::Sse(sse) => {
                            targets.insert(sse.request.target.clone());
                        }
                        StepKind::Think { .. } => {}
                    }
                    list.push(Step {
                        name: names[i].clone(),
                        kind,
                    });
                }
                _ => compiled = None,
            }
        }
        Some(CompiledScenario {
            scenario: Scenario {
                name: scenario.to_string(),
                steps: compiled?,
            },
            tracks,
            targets,
        })
    }

    fn step_name(
        &mut self,
        scenario: &str,
        i: usize,
        step: &Spanned<RawStep>,
        seen: &mut BTreeMap<String, usize>,
    ) -> String {
        let name = match &step.get_ref().name {
            None => i.to_string(),
            Some(raw) => match self.text(
                raw,
                &format!("the name of step {i} of scenario `{scenario}`"),
            ) {
                Some(text) if is_plain_name(&text.value) => text.value,
                Some(text) => {
                    self.push(
                        Diagnostic::new(Some(text.span), format!("`{}` is not a valid step name", text.value))
                            .label("invalid name")
                            .hint("step names are letters, digits, `_`, `-` and `.`, so that thresholds can say `{step=NAME}`"),
                    );
                    i.to_string()
                }
                None => i.to_string(),
            },
        };
        if let Some(first) = seen.insert(name.clone(), i) {
            let span = step
                .get_ref()
                .name
                .as_ref()
                .map_or(step.span(), |n| n.span());
            self.push(
                Diagnostic::new(
                    Some(span),
                    format!(
                        "scenario `{scenario}` has two steps named `{name}` (steps {first} and {i})"
                    ),
                )
                .label("duplicate step name")
                .hint("step names are unique within a scenario; rename one"),
            );
        }
        name
    }

    fn step_kind(
        &mut self,
        place: &StepPlace<'_>,
        step: &Spanned<RawStep>,
        before: &[(String, String)],
        own: &[(String, String)],
        later: &[(String, String)],
    ) -> Option<StepKind> {
        let raw = step.get_ref();
        if raw.ws.is_some() || raw.sse.is_some() {
            let scope = Scope {
                captures: before,
                later,
                key: false,
            };
            return self.stream_step(place, step, &scope);
        }
        match (&raw.request, &raw.think) {
            (Some(request), None) => self
                .http_step(place, raw, request, before, own, later)
                .map(|s| StepKind::Http(Box::new(s))),
            (None, Some(think)) => {
                let extra = http_keys_present(raw);
                if !extra.is_empty() {
                    self.push(
                        Diagnostic::new(Some(step.span()), format!("step `{}` (scenario `{}`) is a think step, which cannot have {}", place.name, place.scenario, extra.join(", ")))
                            .label("think step")
                            .hint("a think step is only { think = \"100ms\" } (with an optional name); put request settings on an HTTP step"),
                    );
                }
                self.think(place, think)
            }
            (None, None) => {
                self.push(
                    Diagnostic::new(Some(step.span()), format!("step `{}` of scenario `{}` has neither `request` nor `think`", place.name, place.scenario))
                        .label("what does this step do?")
                        .hint("an HTTP step has request = \"METHOD target:/path\"; a pause is { think = \"100ms\" }; streams are ws = { ... } and sse = { ... }"),
                );
                None
            }
            (Some(_), Some(_)) => {
                self.push(
                    Diagnostic::new(
                        Some(step.span()),
                        format!(
                            "step `{}` of scenario `{}` has both `request` and `think`",
                            place.name, place.scenario
                        ),
                    )
                    .label("two kinds of step")
                    .hint("split it into two steps: the request, then { think = \"...\" }"),
                );
                None
            }
        }
    }

    fn think(
        &mut self,
        place: &StepPlace<'_>,
        think: &Spanned<crate::raw_forms::ThinkForm>,
    ) -> Option<StepKind> {
        let what = place.of("the think time");
        let items = &think.get_ref().0;
        if items.is_empty() || items.len() > 2 {
            self.push(
                Diagnostic::new(
                    Some(think.span()),
                    format!("{what} has {} durations", items.len()),
                )
                .label("one duration, or a [min, max] pair")
                .hint("write think = \"100ms\" or think = [\"50ms\", \"200ms\"]"),
            );
            return None;
        }
        let mut durations = Vec::new();
        for item in items {
            let value = Spanned::new(think.span(), item.clone());
            durations.push(self.required_duration(&value, &what));
        }
        let min = durations[0]?;
        let max = durations.last().copied().flatten()?;
        if min > max {
            self.push(
                Diagnostic::new(
                    Some(think.span()),
                    format!("{what}: the minimum {min:?} is above the maximum {max:?}"),
                )
                .label("min > max")
                .hint("write the range as [min, max]"),
            );
            return None;
        }
        Some(StepKind::Think { min, max })
    }

    fn http_step(
        &mut self,
        place: &StepPlace<'_>,
        raw: &RawStep,
        request: &Str,
        before: &[(String, String)],
        own: &[(String, String)],
        later: &[(String, String)],
    ) -> Option<HttpStep> {
        let scope = Scope {
            captures: before,
            later,
            key: raw.track.is_some(),
        };
        let request = self.request(request, Form::Targeted, &place.of("the request"), &scope);
        let headers = self.headers(raw.headers.as_ref(), &place.of("the headers"), &scope);
        let body = match (&raw.json, &raw.body) {
            (Some(_), Some(body)) => {
                self.push(
                    Diagnostic::new(
                        Some(body.span()),
                        format!("{} has both `json` and `body`", place.of("the request")),
                    )
                    .label("second body")
                    .hint("send a JSON document with `json`, or raw text with `body`, not both"),
                );
                None
            }
            (Some(json), None) => self
                .json_value(json, &place.of("the json body"), Some(&scope))
                .map(|v| Some(Body::Json(v))),
            (None, Some(body)) => {
                let what = place.of("the body");
                self.text(body, &what)
                    .and_then(|t| self.template(&t, &what, &scope))
                    .map(|t| Some(Body::Raw(t)))
            }
            (None, None) => Some(None),
        };
        let captures = self.captures(place, raw);
        let expect = match &raw.expect {
            Some(expect) => self.expect(&|f| place.of(f), expect.get_ref(), &scope),
            None => Some(Expect {
                status: crate::model::StatusSet::Success,
                body_contains: Vec::new(),
                json: Vec::new(),
                max_latency: None,
            }),
        };
        let poll = match &raw.poll {
            Some(poll) => self.poll(place, poll).map(Some),
            None => Some(None),
        };
        let track = match &raw.track {
            Some(track) => {
                let mut after: Vec<(String, String)> = before.to_vec();
                after.extend(own.iter().cloned());
                self.track(place, track, before, &after, later).map(Some)
            }
            None => Some(None),
        };
        let request = request?;
        Some(HttpStep {
            method: request.method,
            target: request.target?,
            path: request.path,
            headers: headers?,
            body: body?,
            captures: captures?,
            expect: expect?,
            poll: poll?,
            track: track?,
        })
    }

    fn captures(&mut self, place: &StepPlace<'_>, raw: &RawStep) -> Option<Vec<Capture>> {
        let mut out = Some(Vec::new());
        for (name, source) in raw.capture.iter().flat_map(|c| c.0.iter()) {
            if !is_capture_name(name) {
                let message = if RESERVED_NAMES.contains(&name.as_str()) {
                    format!(
                        "the capture `{name}` in {} would hide the builtin `{name}`",
                        place.of("the captures")
                    )
                } else {
                    format!(
                        "`{name}` in {} is not a valid variable name",
                        place.of("the captures")
                    )
                };
                self.push(
                    Diagnostic::new(Some(source.span()), message)
                        .label("invalid capture name")
                        .hint(format!(
                            "capture names are identifiers (letters, digits, `_`) other than {}",
                            RESERVED_NAMES.join(", ")
                        )),
                );
                out = None;
                continue;
            }
            match (
                self.jsonpath(source, &place.of(&format!("capture `{name}`"))),
                out.as_mut(),
            ) {
                (Some((source, path)), Some(list)) => list.push(Capture {
                    name: name.clone(),
                    source,
                    path,
                }),
                _ => out = None,
            }
        }
        out
    }

    /// Compile an `expect` table; `place` names one of its fields for messages.
    pub(crate) fn expect(
        &mut self,
        place: &dyn Fn(&str) -> String,
        raw: &RawExpect,
        scope: &Scope<'_>,
    ) -> Option<Expect> {
        let status = self.status_set(raw.status.as_ref(), &place("expect.status"));
        let mut body_contains = Some(Vec::new());
        for needle in raw.body_contains.iter().flatten() {
            match (
                self.text(needle, &place("expect.body_contains")),
                body_contains.as_mut(),
            ) {
                (Some(text), Some(list)) => list.push(text.value),
                _ => body_contains = None,
            }
        }
        let mut json = Some(Vec::new());
        for (source, value) in raw.json.iter().flat_map(|j| j.0.iter()) {
            let what = place(&format!("expect.json `{source}`"));
            let key = Spanned::new(value.span(), source.clone());
            let path = self.jsonpath(&key, &what);
            let equals = self.json_value(value, &what, Some(scope));
            match (path, equals, json.as_mut()) {
                (Some((source, path)), Some(equals), Some(list)) => list.push(JsonAssertion {
                    source,
                    path,
                    equals: Some(equals),
                }),
                _ => json = None,
            }
        }
        let max_latency = match &raw.latency {
            Some(latency) => self
                .required_duration(latency, &place("expect.latency"))
                .map(Some),
            None => Some(None),
        };
        Some(Expect {
            status: status?,
            body_contains: body_contains?,
            json: json?,
            max_latency: max_latency?,
        })
    }

    fn poll(&mut self, place: &StepPlace<'_>, poll: &Spanned<RawPoll>) -> Option<PollUntil> {
        let raw = poll.get_ref();
        let what = place.of("poll");
        let until = match &raw.until {
            Some(until) => self.jsonpath(until, &place.of("poll.until")),
            None => {
                self.push(
                    Diagnostic::new(Some(poll.span()), format!("{what} has no `until`"))
                        .label("`until` is required here")
                        .hint("poll = { until = \"$.status\", in = [\"completed\", \"failed\"] }"),
                );
                None
            }
        };
        let one_of = match &raw.r#in {
            Some(values) if !values.is_empty() => {
                let mut out = Some(Vec::new());
                for value in values {
                    match (
                        self.json_value(value, &place.of("poll.in"), None),
                        out.as_mut(),
                    ) {
                        (Some(v), Some(list)) => list.push(v),
                        _ => out = None,
                    }
                }
                out
            }
            _ => {
                self.push(
                    Diagnostic::new(Some(poll.span()), format!("{what} has no values in `in`"))
                        .label("`in` is required here")
                        .hint("list the values that end the polling: in = [\"completed\", \"failed\"]"),
                );
                None
            }
        };
        let interval = self.duration(raw.interval.as_ref(), "1s", &place.of("poll.interval"));
        let timeout = self.duration(raw.timeout.as_ref(), "30s", &place.of("poll.timeout"));
        let (source, path) = until?;
        Some(PollUntil {
            until: Condition {
                source,
                path,
                one_of: one_of?,
            },
            interval: interval?,
            timeout: timeout?,
        })
    }
}

/// The HTTP-only keys a step sets (headers, json, body, capture, expect, poll, track): a think
/// or stream step may have none of them.
pub(crate) fn http_keys_present(raw: &RawStep) -> Vec<&'static str> {
    [
        ("headers", raw.headers.is_some()),
        ("json", raw.json.is_some()),
        ("body", raw.body.is_some()),
        ("capture", raw.capture.is_some()),
        ("expect", raw.expect.is_some()),
        ("poll", raw.poll.is_some()),
        ("track", raw.track.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect()
}
