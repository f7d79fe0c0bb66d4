//! Compiling the optional parts of a step's `track` that refine the ledger's classes: the time
//! `objective` (the `slow` class) and the progress signals (`attempts`, `updated`, `started`,
//! `max_attempts`) that give a stuck key its subtype.

use super::compile::Compiler;
use super::compile_step::StepPlace;
use super::diagnostics::Diagnostic;
use super::model::TrackOracle;
use super::raw::RawTrack;

impl Compiler<'_> {
    /// The oracle part of a track. `terminal` is the track's terminal states (empty if they
    /// did not compile), which `started` states must not be among.
    pub(super) fn track_oracle(
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
        let mut path = |cx: &mut Self, value: Option<&super::raw::Str>, field: &str| match value {
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
