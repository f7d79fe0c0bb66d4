//! Compiling a step's `track`: the key, the read request that finds the work again, and the
//! JSONPaths and states that classify it. Its templates have their own scope (see `scope.rs`).

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::model::StatusSet;
use crate::raw::Str;
use crate::request_line::Form;
use crate::scenarios::model::{Resolve, Track, TrackRead};
use crate::scenarios::raw::RawTrack;
use crate::scenarios::step::StepPlace;
use crate::scope::Scope;

impl Compiler<'_> {
    pub(crate) fn track(
        &mut self,
        place: &StepPlace<'_>,
        track: &Spanned<RawTrack>,
        before: &[(String, String)],
        after: &[(String, String)],
        later: &[(String, String)],
    ) -> Option<Track> {
        let raw = track.get_ref();
        let span = track.span();
        let require = |cx: &mut Self, present: bool, key: &str, example: &str| {
            if !present {
                cx.push(
                    Diagnostic::new(
                        Some(span.clone()),
                        format!("{} has no `{key}`", place.of("track")),
                    )
                    .label(format!("`{key}` is required here"))
                    .hint(format!("e.g. {key} = {example}")),
                );
            }
        };
        require(self, raw.key.is_some(), "key", "\"{{ uuid() }}\"");
        require(
            self,
            raw.read.is_some(),
            "read",
            "\"GET api:/api/v1/runs?key={{ key }}\"",
        );
        require(self, raw.items.is_some(), "items", "\"$.runs[*]\"");
        require(self, raw.state.is_some(), "state", "\"$.status\"");
        require(
            self,
            raw.terminal.is_some(),
            "terminal",
            "[\"completed\", \"failed\"]",
        );
        require(self, raw.success.is_some(), "success", "[\"completed\"]");
        let key_scope = Scope {
            captures: before,
            later,
            key: false,
        };
        let read_scope = Scope {
            captures: after,
            later: &[],
            key: true,
        };
        let key = raw.key.as_ref().and_then(|k| {
            let what = place.of("track.key");
            let text = self.text(k, &what)?;
            self.template(&text, &what, &key_scope)
        });
        let read = raw
            .read
            .as_ref()
            .and_then(|r| self.request(r, Form::Targeted, &place.of("track.read"), &read_scope));
        let headers = self.headers(
            raw.headers.as_ref(),
            &place.of("track.headers"),
            &read_scope,
        );
        let items = raw
            .items
            .as_ref()
            .and_then(|p| self.jsonpath(p, &place.of("track.items")));
        let state = raw
            .state
            .as_ref()
            .and_then(|p| self.jsonpath(p, &place.of("track.state")));
        let results = match &raw.results {
            Some(p) => self
                .jsonpath(p, &place.of("track.results"))
                .map(|(_, p)| Some(p)),
            None => Some(None),
        };
        let terminal = self.state_list(raw.terminal.as_deref(), &span, &place.of("track.terminal"));
        let success = self.state_list(raw.success.as_deref(), &span, &place.of("track.success"));
        if let (Some(terminal), Some(success), Some(list)) = (&terminal, &success, &raw.success) {
            for (state, raw_state) in success.iter().zip(list) {
                if !terminal.contains(state) {
                    self.push(
                        Diagnostic::new(
                            Some(raw_state.span()),
                            format!(
                                "`{state}` in {} is not one of the terminal states",
                                place.of("track.success")
                            ),
                        )
                        .label("not terminal")
                        .hint(format!(
                            "success states are a subset of terminal = [{}]",
                            terminal.join(", ")
                        )),
                    );
                    return None;
                }
            }
        }
        let oracle = self.track_oracle(place, raw, terminal.as_deref().unwrap_or_default());
        let key_field = match &raw.key_field {
            Some(p) => self
                .jsonpath(p, &place.of("track.key_field"))
                .map(|(_, p)| Some(p)),
            None => Some(None),
        };
        let resolve = self.resolve(place, raw);
        let read = read?;
        Some(Track {
            key: key?,
            read: TrackRead {
                method: read.method,
                target: read.target?,
                path: read.path,
                headers: headers?,
            },
            items: items?.1,
            state: state?.1,
            results: results?,
            terminal: terminal?,
            success: success?,
            oracle: oracle?,
            key_field: key_field?,
            resolve: resolve?,
        })
    }

    /// `resolve` and `replay_created`.
    fn resolve(&mut self, place: &StepPlace<'_>, raw: &RawTrack) -> Option<Resolve> {
        let created = match &raw.replay_created {
            Some(status) => {
                match self.status_set(Some(status), &place.of("track.replay_created"))? {
                    StatusSet::Codes(codes) => codes.into_iter().collect(),
                    StatusSet::Success => Vec::new(),
                }
            }
            None => vec![201],
        };
        let Some(text) = &raw.resolve else {
            return Some(Resolve::Read);
        };
        let what = place.of("track.resolve");
        let text = self.text(text, &what)?;
        match text.value.as_str() {
            "read" => Some(Resolve::Read),
            "replay" => Some(Resolve::Replay { created }),
            other => {
                self.push(
                    Diagnostic::new(Some(text.span.clone()), format!("unknown {what} `{other}`"))
                        .label("not a way to resolve")
                        .hint("resolve = \"read\" (the track's read alone) or \"replay\" (send the submit again with the same key at settle)"),
                );
                None
            }
        }
    }

    fn state_list(
        &mut self,
        states: Option<&[Str]>,
        span: &std::ops::Range<usize>,
        what: &str,
    ) -> Option<Vec<String>> {
        let states = states?;
        if states.is_empty() {
            self.push(
                Diagnostic::new(Some(span.clone()), format!("{what} is empty"))
                    .label("empty")
                    .hint("list at least one state, e.g. [\"completed\"]"),
            );
            return None;
        }
        let mut out = Some(Vec::new());
        for state in states {
            match (self.text(state, what), out.as_mut()) {
                (Some(t), Some(list)) => list.push(t.value),
                _ => out = None,
            }
        }
        out
    }
}
