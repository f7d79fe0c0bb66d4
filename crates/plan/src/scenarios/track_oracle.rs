//! Compiling the optional parts of a step's `track` that refine the ledger's classes: the time
//! `objective` (the `slow` class) and the progress signals (`attempts`, `updated`, `started`,
//! `max_attempts`) that give a stuck key its subtype.

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::scenarios::model::TrackOracle;
use crate::scenarios::raw::RawTrack;
use crate::scenarios::step::StepPlace;

impl Compiler<'_> {
    /// The oracle part of a track. `terminal` is the track's terminal states (empty if they
    /// did not compile), which `started` states must not be among.
    pub(crate) fn track_oracle(
        &mut self,
        place: &StepPlace<'_>,
        raw: &RawTrack,
        terminal: &[String],
    ) -> Option<TrackOracle> {
        let mut ok = true;
        let objective = match &raw.objective {
            Some(text) => {
                let what = place.of("track.objective");
                let parsed = self.required_duration(text, &what);
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        let mut path = |cx: &mut Self, value: Option<&crate::raw::Str>, field: &str| match value {
            Some(p) => {
                let parsed = cx.jsonpath(p, &place.of(field)).map(|(_, p)| p);
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        let attempts = path(self, raw.attempts.as_ref(), "track.attempts");
        let updated = path(self, raw.updated.as_ref(), "track.updated");
        let mut started = Vec::new();
        for state in raw.started.iter().flatten() {
            let what = place.of("track.started");
            let Some(text) = self.text(state, &what) else {
                ok = false;
                continue;
            };
            if terminal.contains(&text.value) {
                self.push(
                    Diagnostic::new(
                        Some(state.span()),
                        format!("`{}` in {what} is a terminal state", text.value),
                    )
                    .label("terminal")
                    .hint(format!(
                        "started states are the non-terminal states in which a worker holds the \
                         job, e.g. [\"running\"]; terminal = [{}]",
                        terminal.join(", ")
                    )),
                );
                ok = false;
                continue;
            }
            started.push(text.value);
        }
        let max_attempts = match &raw.max_attempts {
            Some(value) => {
                let what = place.of("track.max_attempts");
                let parsed = self.positive::<u64>(value, &what);
                if parsed.is_some() && raw.attempts.is_none() {
                    self.push(
                        Diagnostic::new(
                            Some(value.span()),
                            format!("{what} is set, but the track has no `attempts`"),
                        )
                        .label("cannot be checked")
                        .hint("say where a job's attempt count is, e.g. attempts = \"$.attempts\""),
                    );
                    ok = false;
                }
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        ok.then_some(TrackOracle {
            objective,
            attempts,
            updated,
            started,
            max_attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::model::Plan;

    use crate::scenarios::model::{StepKind, TrackOracle};
    use crate::{PlanErrors, compile_str};

    fn plan(track_extra: &str) -> Result<Plan, PlanErrors> {
        let text = format!(
            r#"
[plan]
name = "t"
limits = {{ duration = "1m", requests = 100 }}

[targets.api]
url = "http://127.0.0.1:9/"

[scenarios.s]
steps = [
  {{ name = "create", request = "POST api:/runs", track = {{ key = "{{{{ uuid() }}}}", read = "GET api:/runs?key={{{{ key }}}}", items = "$.runs[*]", state = "$.status", terminal = ["completed", "failed"], success = ["completed"]{track_extra} }} }},
]

[[load]]
id = "L1"
scenario = "s"
executor = {{ rounds = {{ concurrency = 1, rounds = 1 }} }}
"#
        );
        compile_str(&text, Path::new("t.toml"), &|_| None)
    }

    fn oracle(plan: &Plan) -> TrackOracle {
        match &plan.scenarios["s"].steps[0].kind {
            StepKind::Http(http) => http.track.as_ref().expect("a track").oracle.clone(),
            _ => panic!("an HTTP step"),
        }
    }

    fn error(track_extra: &str) -> String {
        match plan(track_extra) {
            Ok(_) => panic!("`{track_extra}` compiled"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_oracle_field_compiles_and_none_is_required() {
        let bare = oracle(&plan("").unwrap());
        assert!(bare.objective.is_none() && bare.attempts.is_none() && bare.started.is_empty());
        let full = oracle(
            &plan(
                r#", objective = "30s", attempts = "$.attempts", updated = "$.updated_at", started = ["running"], max_attempts = 5"#,
            )
            .unwrap(),
        );
        assert_eq!(full.objective, Some(Duration::from_secs(30)));
        assert_eq!(
            full.attempts.map(|p| p.to_string()).as_deref(),
            Some("$.attempts")
        );
        assert!(full.updated.is_some());
        assert_eq!(full.started, ["running"]);
        assert_eq!(full.max_attempts, Some(5));
    }

    #[test]
    fn a_started_state_that_is_terminal_is_an_error_with_a_hint() {
        let e = error(r#", started = ["running", "completed"]"#);
        assert!(e.contains("`completed` in"), "{e}");
        assert!(e.contains("is a terminal state"), "{e}");
        assert!(
            e.contains("non-terminal states in which a worker holds the job"),
            "{e}"
        );
    }

    #[test]
    fn max_attempts_needs_an_attempts_path_and_a_bad_objective_is_named() {
        let e = error(", max_attempts = 3");
        assert!(e.contains("has no `attempts`"), "{e}");
        let e = error(r#", objective = "soon""#);
        assert!(e.contains("track.objective"), "{e}");
        let e = error(r#", attempts = "attempts""#);
        assert!(e.contains("invalid JSONPath"), "{e}");
        let e = error(", max_attempts = 0");
        assert!(e.contains("max_attempts"), "{e}");
    }
}
