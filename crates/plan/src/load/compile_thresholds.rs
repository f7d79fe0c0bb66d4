//! Compiling a load test's thresholds: each parsed, checked against what its test measures,
//! and the fault windows a threshold may only name in a fault test.

use std::collections::BTreeSet;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::load::model::{LoadTest, Sampler, Threshold, ThresholdMetric};
use crate::load::raw::RawLoad;
use crate::load::threshold::{THRESHOLD_GRAMMAR, parse_threshold};
use crate::raw::Str;
use crate::scenarios::step::CompiledScenario;

impl Compiler<'_> {
    pub(crate) fn thresholds(
        &mut self,
        raw: &[Str],
        id: &str,
        scenarios: &[&CompiledScenario],
        samplers: Option<&[Sampler]>,
        complete: bool,
    ) -> Option<Vec<Threshold>> {
        let mut out = Some(Vec::new());
        for source in raw {
            let what = format!("a threshold of load test `{id}`");
            let Some(text) = self.text(source, &what) else {
                out = None;
                continue;
            };
            let threshold = match parse_threshold(&text.value) {
                Ok(t) => t,
                Err(err) => {
                    self.push(
                        Diagnostic::new(
                            Some(text.sub_span(err.range)),
                            format!(
                                "the threshold `{}` of load test `{id}` does not parse: {}",
                                text.value, err.message
                            ),
                        )
                        .label("here")
                        .hint(THRESHOLD_GRAMMAR),
                    );
                    out = None;
                    continue;
                }
            };
            let problem = self.threshold_problem(&threshold, scenarios, samplers, complete);
            match (problem, out.as_mut()) {
                (None, Some(list)) => list.push(threshold),
                (None, None) => {}
                (Some((message, hint)), _) => {
                    self.push(
                        Diagnostic::new(
                            Some(text.span),
                            format!(
                                "the threshold `{}` of load test `{id}` {message}",
                                text.value
                            ),
                        )
                        .label("cannot be measured")
                        .hint(hint),
                    );
                    out = None;
                }
            }
        }
        out
    }

    /// A plain load test injects no fault: a threshold scoped to a fault's window could never
    /// be measured.
    pub(crate) fn no_fault_windows(&mut self, test: &LoadTest, raw: &RawLoad, id: &str) {
        let sources = raw.thresholds.iter().flatten();
        for (t, source) in test.thresholds.iter().zip(sources) {
            if crate::load::open::needs_a_fault(t) {
                self.push(
                    Diagnostic::new(
                        Some(source.span()),
                        format!(
                            "the threshold `{}` of load test `{id}` is scoped to a fault's window, \
                             but a load test injects no fault",
                            t.source
                        ),
                    )
                    .label("no fault here")
                    .hint("move it to the `expect` of a [[faults]] test, or use window=FROM..TO"),
                );
            }
        }
    }

    /// Why a threshold cannot be measured on this test, if it cannot.
    pub(crate) fn threshold_problem(
        &self,
        t: &Threshold,
        scenarios: &[&CompiledScenario],
        samplers: Option<&[Sampler]>,
        complete: bool,
    ) -> Option<(String, String)> {
        if let Some(problem) = crate::load::open::window_problem(t) {
            return Some(problem);
        }
        let scoped_ok = !matches!(
            t.metric,
            ThresholdMetric::Gauge { .. } | ThresholdMetric::Ledger(_)
        );
        if let Some(step) = &t.step {
            if !scoped_ok {
                return Some((
                    "is scoped to a step, but gauges and ledger classes are per test".into(),
                    "remove the `{step=...}`, or scope a latency, rate or count metric instead"
                        .into(),
                ));
            }
            let names: BTreeSet<&str> = scenarios
                .iter()
                .flat_map(|s| s.scenario.steps.iter().map(|st| st.name.as_str()))
                .collect();
            if complete && !names.contains(step.as_str()) {
                return Some((
                    format!("names the step `{step}`, which none of its scenarios has"),
                    format!(
                        "steps of this test: {}",
                        names.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        match &t.metric {
            ThresholdMetric::Gauge { name, .. } => {
                let samplers = samplers?;
                if samplers.iter().any(|s| &s.name == name) {
                    return None;
                }
                let names: Vec<&str> = samplers.iter().map(|s| s.name.as_str()).collect();
                Some((
                    format!("reads the gauge `{name}`, which this test does not sample"),
                    if names.is_empty() {
                        format!("add a sampler: sample = [{{ name = \"{name}\", request = \"GET target:/path\", value = \"$.field\" }}]")
                    } else {
                        format!("gauges of this test: {}", names.join(", "))
                    },
                ))
            }
            ThresholdMetric::Ledger(_) if complete && !scenarios.iter().any(|s| s.tracks) => Some((
                "counts ledger outcomes, but this test tracks nothing".into(),
                "add `track = { ... }` to the step that creates the work, or remove the threshold".into(),
            )),
            _ => None,
        }
    }
}
