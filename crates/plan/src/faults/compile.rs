//! Compiling `[[faults]]` and `[safety]`: the background load (through the load-test compiler),
//! the timeline, recovery and expectations. Every target a fault names must exist and have a
//! control whose driver can perform the action: a fault against an undeclared target is a plan
//! error. Targets' `identity` and `control` are compiled in `compile_control.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::expr::CmpOp;
use crate::faults::model::{
    FaultAction, FaultPlan, FaultTest, Recovery, RecoveryProbe, StopCondition, TimelineEntry,
    Trigger,
};
use crate::faults::raw::{RawFault, RawRecovery, RawTimelineEntry};
use crate::faults::threshold::{Expectation, FAULT_GRAMMAR, parse_expectation};
use crate::load::compile::first_line;
use crate::load::model::LoadTest;
use crate::load::raw::RawLoad;
use crate::model::{Method, StatusSet};
use crate::raw::{RawPlanFile, Str};
use crate::request_line::Form;
use crate::scenarios::step::CompiledScenario;
use crate::scope::Scope;
use crate::targets::model::{ControlVerb, DriverSpec, Probe, Target};
use crate::template::Template;

/// Signals `kill` accepts.
pub const SIGNALS: [&str; 7] = ["KILL", "TERM", "INT", "QUIT", "HUP", "USR1", "USR2"];

impl Compiler<'_> {
    pub(crate) fn fault_plan(
        &mut self,
        raw: &RawPlanFile,
        scenarios: &BTreeMap<String, CompiledScenario>,
        targets: &BTreeMap<String, Target>,
        load_tests: &[LoadTest],
    ) -> FaultPlan {
        let declared: BTreeSet<&str> = raw
            .scenarios
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        let mut ids: BTreeSet<String> = load_tests.iter().map(|t| t.id.clone()).collect();
        let mut tests = Vec::new();
        for (i, fault) in raw.faults.iter().flatten().enumerate() {
            let header = first_line(self.source, &fault.span());
            if fault.get_ref().expect.as_ref().is_none_or(Vec::is_empty) {
                self.no_thresholds(
                    header.clone(),
                    "fault test",
                    "expect",
                    "[\"lost == 0\", \"stuck == 0\", \"recovery < 30s\"]",
                );
            }
            if let Some(test) = self.fault_test(
                fault.get_ref(),
                header,
                i,
                &mut ids,
                &declared,
                scenarios,
                targets,
            ) {
                tests.push(test);
            }
        }
        let stop_conditions = self.stop_conditions(raw);
        FaultPlan {
            tests,
            stop_conditions,
        }
    }

    // `field_reassign_with_default`: the background load is built field by field on purpose.
    #[allow(clippy::too_many_arguments, clippy::field_reassign_with_default)]
    fn fault_test(
        &mut self,
        raw: &RawFault,
        header: Range<usize>,
        index: usize,
        ids: &mut BTreeSet<String>,
        declared: &BTreeSet<&str>,
        scenarios: &BTreeMap<String, CompiledScenario>,
        targets: &BTreeMap<String, Target>,
    ) -> Option<FaultTest> {
        let id = self.check_id("fault test", "C1", raw.id.as_ref(), &header, index, ids);
        let label = id.clone().unwrap_or_else(|| format!("fault test {index}"));
        // Split the expectations: load thresholds go to the load compiler, fault measures stay.
        let mut load_thresholds = Vec::new();
        let mut expect = Some(Vec::new());
        for source in raw.expect.iter().flatten() {
            let what = format!("an expectation of fault test `{label}`");
            let Some(text) = self.text(source, &what) else {
                expect = None;
                continue;
            };
            match parse_expectation(&text.value) {
                Ok(Expectation::Load(_)) => load_thresholds.push(source.clone()),
                Ok(Expectation::Fault(t)) => {
                    if let Some(list) = expect.as_mut() {
                        list.push(t);
                    }
                }
                Err(err) => {
                    self.push(
                        Diagnostic::new(
                            Some(text.sub_span(err.range)),
                            format!(
                                "the expectation `{}` of fault test `{label}` does not parse: {}",
                                text.value, err.message
                            ),
                        )
                        .label("here")
                        .hint(FAULT_GRAMMAR),
                    );
                    expect = None;
                }
            }
        }
        let load = match &raw.load {
            Some(load) => {
                let l = load.get_ref();
                // Field by field, so that keys `[[load]]` gains later keep their defaults here.
                let mut raw_load = RawLoad::default();
                raw_load.id = raw.id.clone();
                raw_load.name = raw.name.clone();
                raw_load.required = raw.required;
                raw_load.scenario = l.scenario.clone();
                raw_load.mix = l.mix.clone();
                raw_load.executor = l.executor.clone();
                raw_load.thresholds = Some(load_thresholds);
                raw_load.sample = raw.sample.clone();
                let span = first_line(self.source, &load.span());
                self.load_test(&raw_load, span, &label, declared, scenarios)
                    .map(|mut test| {
                        crate::load::threshold_default::add_failure_default(
                            &mut test.thresholds,
                            true,
                        );
                        test
                    })
            }
            None => {
                self.push(
                    Diagnostic::new(Some(header.clone()), format!("fault test `{label}` has no `load`"))
                        .label("`load` is required here")
                        .hint("give it background load: load = { scenario = \"submit\", executor = { rounds = { concurrency = 10, rounds = 1 } } }"),
                );
                None
            }
        };
        let gauges: Vec<String> = match &load {
            Some(l) => l.samplers.iter().map(|s| s.name.clone()).collect(),
            None => raw
                .sample
                .iter()
                .flatten()
                .filter_map(|s| s.get_ref().name.as_ref().map(|n| n.get_ref().clone()))
                .collect(),
        };
        let timeline = match &raw.timeline {
            Some(entries) if !entries.is_empty() => {
                let mut out = Some(Vec::new());
                for entry in entries {
                    match (
                        self.timeline_entry(entry, &label, targets, &gauges),
                        out.as_mut(),
                    ) {
                        (Some(e), Some(list)) => list.push(e),
                        _ => out = None,
                    }
                }
                out
            }
            _ => {
                self.push(
                    Diagnostic::new(Some(header.clone()), format!("fault test `{label}` has no faults in its `timeline`"))
                        .label("`timeline` is required here")
                        .hint("e.g. timeline = [{ at = \"1s\", kill = \"worker\", signal = \"KILL\" }, { after = \"1s\", restart = \"worker\" }]"),
                );
                None
            }
        };
        let first_target = timeline.as_ref().and_then(|t: &Vec<TimelineEntry>| {
            t.iter().find_map(|e| e.action.target().map(str::to_string))
        });
        let recovery = self.recovery(
            raw.recovery.as_ref(),
            &label,
            first_target.as_deref(),
            targets,
            &gauges,
            &header,
        );
        let (id, load, timeline, recovery, expect) = (id?, load?, timeline?, recovery?, expect?);
        let mut touched: BTreeSet<String> = load.targets.clone();
        for entry in &timeline {
            if let Some(target) = entry.action.target() {
                touched.insert(target.to_string());
                if entry.action.verb().is_some() {
                    touched.insert(format!("{target}.control"));
                }
            }
        }
        match &recovery.probe {
            RecoveryProbe::Target(t) | RecoveryProbe::Request { target: t, .. } => {
                touched.insert(t.clone());
            }
        }
        Some(FaultTest {
            id: id.clone(),
            name: load.name.clone(),
            required: load.required,
            watch: load.samplers.clone(),
            load: LoadTest { id, ..load },
            timeline,
            recovery,
            expect,
            targets: touched,
        })
    }

    /// A target name a fault acts on: it must exist and, for a driver verb, have a control that
    /// supports it.
    fn fault_target(
        &mut self,
        name: &Str,
        verb: Option<ControlVerb>,
        what: &str,
        targets: &BTreeMap<String, Target>,
    ) -> Option<String> {
        let text = self.text(name, what)?;
        if !self.target_ref(&text.value, text.span.clone(), what) {
            return None;
        }
        let Some(verb) = verb else {
            return Some(text.value);
        };
        // A target that failed to compile has its own errors.
        let target = targets.get(&text.value)?;
        let problem = match &target.control {
            None => Some(format!("the target `{}` has no `control`", text.value)),
            Some(c) if !c.driver.supports(verb) => Some(format!(
                "the {} driver of target `{}` cannot {}",
                c.driver.name(),
                text.value,
                verb.as_str()
            )),
            Some(_) => None,
        };
        if let Some(message) = problem {
            self.push(
                Diagnostic::new(Some(text.span), format!("{what}: {message}"))
                    .label("cannot be faulted this way")
                    .hint(format!(
                        "give [targets.{}] a control that can {}: control = {{ driver = \"process\", command = [...] }}, or an exec/http driver with `{} = ...`",
                        text.value,
                        verb.as_str(),
                        verb.as_str()
                    )),
            );
            return None;
        }
        Some(text.value)
    }

    fn timeline_entry(
        &mut self,
        entry: &Spanned<RawTimelineEntry>,
        label: &str,
        targets: &BTreeMap<String, Target>,
        gauges: &[String],
    ) -> Option<TimelineEntry> {
        let e = entry.get_ref();
        let span = entry.span();
        let what = format!("a timeline entry of fault test `{label}`");
        let triggers = [e.at.is_some(), e.after.is_some(), e.when.is_some()];
        let trigger = match (&e.at, &e.after, &e.when) {
            _ if triggers.iter().filter(|t| **t).count() > 1 => {
                self.push(
                    Diagnostic::new(Some(span.clone()), format!("{what} has more than one of `at`, `after` and `when`"))
                        .label("one trigger")
                        .hint("write at = \"1s\" (from the start of the test), after = \"1s\" (after the previous entry) or when = \"gauge(NAME) >= N\""),
                );
                None
            }
            (Some(at), _, _) => self
                .duration(Some(at), "0s", &format!("`at` of {what}"))
                .map(Trigger::At),
            (_, Some(after), _) => self
                .duration(Some(after), "0s", &format!("`after` of {what}"))
                .map(Trigger::After),
            (_, _, Some(when)) => self.condition(when, &what, gauges),
            (None, None, None) => Some(Trigger::After(std::time::Duration::ZERO)),
        };
        let actions = [
            e.kill.is_some(),
            e.restart.is_some(),
            e.stop.is_some(),
            e.start.is_some(),
            e.pause.is_some(),
            e.request.is_some(),
            e.heal == Some(true),
            e.toxic.is_some(),
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            self.push(
                Diagnostic::new(Some(span), format!("{what} needs exactly one action"))
                    .label("one of kill, restart, stop, start, pause, request, heal, toxic")
                    .hint("e.g. { at = \"1s\", kill = \"worker\", signal = \"KILL\" } or { at = \"1s\", request = \"POST ops:/chaos/db-outage?seconds=3\" }"),
            );
            return None;
        }
        let scope = Scope::default();
        let action = if let Some(t) = &e.kill {
            let target = self.fault_target(t, Some(ControlVerb::Kill), &what, targets);
            let signal = match &e.signal {
                None => Some("KILL".to_string()),
                Some(s) => self.text(s, &what).and_then(|text| {
                    let name = text.value.trim_start_matches("SIG").to_ascii_uppercase();
                    if SIGNALS.contains(&name.as_str()) {
                        Some(name)
                    } else {
                        self.push(
                            Diagnostic::new(
                                Some(text.span),
                                format!("`{}` is not a signal shakedown sends", text.value),
                            )
                            .label("unknown signal")
                            .hint(format!(
                                "signals: {}; use `pause` for STOP/CONT",
                                SIGNALS.join(", ")
                            )),
                        );
                        None
                    }
                }),
            };
            Some(FaultAction::Kill {
                target: target?,
                signal: signal?,
            })
        } else if let Some(t) = &e.restart {
            self.fault_target(t, Some(ControlVerb::Restart), &what, targets)
                .map(|target| FaultAction::Restart { target })
        } else if let Some(t) = &e.stop {
            let target = self.fault_target(t, Some(ControlVerb::Stop), &what, targets);
            // A stopped target is started again at heal.
            let start = self.fault_target(t, Some(ControlVerb::Start), &what, targets);
            start.and(target).map(|target| FaultAction::Stop { target })
        } else if let Some(t) = &e.start {
            self.fault_target(t, Some(ControlVerb::Start), &what, targets)
                .map(|target| FaultAction::Start { target })
        } else if let Some(t) = &e.pause {
            let target = self.fault_target(t, Some(ControlVerb::Pause), &what, targets);
            let resume = self.fault_target(t, Some(ControlVerb::Resume), &what, targets);
            let ttl = self.duration(e.r#for.as_ref(), "5s", &format!("`for` of {what}"));
            Some(FaultAction::Pause {
                target: resume.and(target)?,
                ttl: ttl?,
            })
        } else if let Some(line) = &e.request {
            let request = self.request(line, Form::Targeted, &what, &scope)?;
            let target = request.target?;
            Some(FaultAction::Request {
                target,
                probe: success_probe(request.method, request.path),
                line: line.get_ref().clone(),
            })
        } else if let Some(toxic) = &e.toxic {
            self.toxic_action(toxic, e.proxy.as_ref(), e.r#for.as_ref(), &what)
        } else {
            Some(FaultAction::Heal)
        };
        Some(TimelineEntry {
            trigger: trigger?,
            action: action?,
        })
    }

    /// `gauge(NAME) OP NUMBER`.
    fn condition(&mut self, when: &Str, what: &str, gauges: &[String]) -> Option<Trigger> {
        let text = self.text(when, &format!("`when` of {what}"))?;
        let value = text.value.trim();
        let parsed = value.strip_prefix("gauge(").and_then(|rest| {
            let (name, rest) = rest.split_once(')')?;
            let rest = rest.trim_start();
            let (op, rest) = CmpOp::strip_prefix(rest)?;
            let number: f64 = rest.trim().parse().ok()?;
            Some((name.trim().to_string(), op, number))
        });
        let Some((gauge, op, number)) = parsed else {
            self.push(
                Diagnostic::new(Some(text.span), format!("`{value}` is not a condition"))
                    .label("expected gauge(NAME) OP NUMBER")
                    .hint("e.g. when = \"gauge(running) >= 5\", where `running` is a sampler in this test's `sample`"),
            );
            return None;
        };
        if !gauges.contains(&gauge) {
            self.push(
                Diagnostic::new(Some(text.span), format!("`{value}` reads the gauge `{gauge}`, which this test does not sample"))
                    .label("unknown gauge")
                    .hint(format!("add it: sample = [{{ name = \"{gauge}\", request = \"GET ops:/queue\", value = \"$.running\", every = \"100ms\" }}]")),
            );
            return None;
        }
        Some(Trigger::When {
            source: value.to_string(),
            gauge,
            op,
            value: number,
        })
    }

    fn recovery(
        &mut self,
        raw: Option<&Spanned<RawRecovery>>,
        label: &str,
        first_target: Option<&str>,
        targets: &BTreeMap<String, Target>,
        gauges: &[String],
        header: &Range<usize>,
    ) -> Option<Recovery> {
        let default = RawRecovery::default();
        let r = raw.map(|r| r.get_ref()).unwrap_or(&default);
        let span = raw.map(|r| r.span()).unwrap_or_else(|| header.clone());
        let what = format!("the recovery of fault test `{label}`");
        let healthy = match &r.healthy {
            Some(h) => self.positive::<u32>(h, "recovery.healthy"),
            None => Some(3),
        };
        let within = self.duration(r.within.as_ref(), "30s", &format!("`within` of {what}"));
        let every = self.duration(r.every.as_ref(), "200ms", &format!("`every` of {what}"));
        let objective = match &r.objective {
            None => Some(None),
            Some(o) => self
                .duration(Some(o), "1s", &format!("`objective` of {what}"))
                .map(Some),
        };
        let probe = match &r.probe {
            Some(p) if p.get_ref().trim().contains(' ') => {
                let request = self.request(p, Form::Targeted, &what, &Scope::default());
                request.and_then(|request| {
                    Some(RecoveryProbe::Request {
                        target: request.target?,
                        probe: Probe {
                            method: request.method,
                            path: request.path,
                            headers: Vec::new(),
                            expect_status: StatusSet::Success,
                        },
                        line: p.get_ref().clone(),
                    })
                })
            }
            Some(p) => {
                let text = self.text(p, &what)?;
                self.target_ref(&text.value, text.span.clone(), &what)
                    .then_some(text)
                    .and_then(|t| self.probeable(&t.value, t.span, targets))
            }
            None => match first_target {
                Some(t) => self.probeable(t, span.clone(), targets),
                None => {
                    self.push(
                        Diagnostic::new(Some(span.clone()), format!("{what} has nothing to probe"))
                            .label("no `probe`")
                            .hint("recovery = { probe = \"GET api:/health/ready\", healthy = 3, within = \"30s\" }"),
                    );
                    None
                }
            },
        };
        let backlog = match &r.backlog {
            None => Some(None),
            Some(b) => {
                let text = self.text(b, &what)?;
                if gauges.contains(&text.value) {
                    Some(Some(text.value))
                } else {
                    self.push(
                        Diagnostic::new(
                            Some(text.span),
                            format!(
                                "the backlog gauge `{}` is not sampled by fault test `{label}`",
                                text.value
                            ),
                        )
                        .label("unknown gauge")
                        .hint(
                            "name a sampler of this test's `sample` list that reads a queue depth",
                        ),
                    );
                    None
                }
            }
        };
        Some(Recovery {
            probe: probe?,
            healthy: healthy?,
            within: within?,
            every: every?,
            backlog: backlog?,
            objective: objective?,
        })
    }

    /// A target whose health can be probed: it has a URL and a health probe, or a process
    /// control (whose liveness is its health).
    fn probeable(
        &mut self,
        name: &str,
        span: Range<usize>,
        targets: &BTreeMap<String, Target>,
    ) -> Option<RecoveryProbe> {
        let target = targets.get(name)?;
        let by_health = target.health.is_some() && !target.base_url.is_empty();
        let by_process = matches!(
            target.control.as_ref().map(|c| &c.driver),
            Some(DriverSpec::Process(_))
        );
        if by_health || by_process {
            return Some(RecoveryProbe::Target(name.to_string()));
        }
        self.push(
            Diagnostic::new(Some(span), format!("the recovery of `{name}` cannot be probed: it has no health probe"))
                .label("nothing to probe")
                .hint(format!("give [targets.{name}] a url and health = \"GET /health\", or write recovery = {{ probe = \"GET api:/health/ready\" }}")),
        );
        None
    }

    fn stop_conditions(&mut self, raw: &RawPlanFile) -> Vec<StopCondition> {
        let mut out = Vec::new();
        let Some(safety) = &raw.safety else {
            return out;
        };
        for (i, stop) in safety.get_ref().stop.iter().flatten().enumerate() {
            let s = stop.get_ref();
            let what = format!("stop condition {i}");
            let Some(line) = &s.request else {
                self.push(
                    Diagnostic::new(Some(stop.span()), format!("{what} has no `request`"))
                        .label("`request` is required here")
                        .hint("stop = [{ request = \"GET api:/health\", every = \"1s\", failures = 3 }]"),
                );
                continue;
            };
            let request = self.request(line, Form::Targeted, &what, &Scope::default());
            let every = self.duration(s.every.as_ref(), "1s", &format!("`every` of {what}"));
            let failures = match &s.failures {
                Some(f) => self.positive::<u32>(f, "failures"),
                None => Some(3),
            };
            if let (Some(request), Some(every), Some(failures)) = (request, every, failures)
                && let Some(target) = request.target
            {
                out.push(StopCondition {
                    target,
                    probe: success_probe(request.method, request.path),
                    line: line.get_ref().clone(),
                    every,
                    failures,
                });
            }
        }
        out
    }
}

/// A request a fault or a stop condition sends: no headers of its own, any 2xx is a success.
fn success_probe(method: Method, path: Template) -> Probe {
    Probe {
        method,
        path,
        headers: Vec::new(),
        expect_status: StatusSet::Success,
    }
}
