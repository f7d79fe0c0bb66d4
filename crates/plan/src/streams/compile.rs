//! Compiling stream steps: `ws = { ... }` and `sse = { ... }`, their expected events, and the
//! options that bound them (deadline, idle limit, size cap, reconnects).

use std::time::Duration;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::model::Method;
use crate::raw::Str;
use crate::raw_forms::OrderedMap;
use crate::request_line::Form;
use crate::scenarios::model::{JsonAssertion, StepKind};
use crate::scenarios::raw::RawStep;
use crate::scenarios::step::StepPlace;
use crate::scope::Scope;
use crate::streams::model::{
    EventMatcher, Reconnect, SseStep, StreamExpect, StreamRequest, Unexpected, WsMessage, WsStep,
};
use crate::streams::raw::{RawReconnect, RawSse, RawStreamEvent, RawWs, RawWsClose};

/// The default cap on one message or event: 1 MiB.
const DEFAULT_MAX_EVENT: usize = 1024 * 1024;

impl Compiler<'_> {
    /// A step with `ws` or `sse`: exactly one of them, and none of the HTTP step's keys.
    pub(crate) fn stream_step(
        &mut self,
        place: &StepPlace<'_>,
        step: &Spanned<RawStep>,
        scope: &Scope<'_>,
    ) -> Option<StepKind> {
        let raw = step.get_ref();
        let extra: Vec<&str> = [
            ("request", raw.request.is_some()),
            ("think", raw.think.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .chain(crate::scenarios::step::http_keys_present(raw))
        .collect();
        let kind = if raw.ws.is_some() { "ws" } else { "sse" };
        if raw.ws.is_some() && raw.sse.is_some() {
            self.push(
                Diagnostic::new(
                    Some(step.span()),
                    format!(
                        "step `{}` (scenario `{}`) has both `ws` and `sse`",
                        place.name, place.scenario
                    ),
                )
                .label("two kinds of step")
                .hint("split it into two steps, one per stream"),
            );
            return None;
        }
        if !extra.is_empty() {
            self.push(
                Diagnostic::new(
                    Some(step.span()),
                    format!(
                        "step `{}` (scenario `{}`) is a `{kind}` step, which cannot also have {}",
                        place.name,
                        place.scenario,
                        extra.join(", ")
                    ),
                )
                .label("stream step")
                .hint(format!(
                    "a stream step is {{ name = \"...\", {kind} = {{ request = \"GET api:/path\", headers = {{ ... }}, events = [...] }} }}: its settings go inside `{kind}`"
                )),
            );
            return None;
        }
        if let Some(ws) = &raw.ws {
            return self
                .ws_step(place, ws, scope)
                .map(|s| StepKind::Ws(Box::new(s)));
        }
        let sse = raw.sse.as_ref()?;
        self.sse_step(place, sse, scope)
            .map(|s| StepKind::Sse(Box::new(s)))
    }

    fn ws_step(
        &mut self,
        place: &StepPlace<'_>,
        ws: &Spanned<RawWs>,
        scope: &Scope<'_>,
    ) -> Option<WsStep> {
        let raw = ws.get_ref();
        let request = self.stream_request(
            place,
            "ws",
            ws.span(),
            raw.request.as_ref(),
            raw.headers.as_ref(),
            scope,
        );
        if let Some(r) = &request
            && r.method != Method::Get
            && let Some(line) = &raw.request
        {
            self.push(
                Diagnostic::new(
                    Some(line.span()),
                    format!(
                        "{} uses {}; a WebSocket handshake is a GET",
                        place.of("ws.request"),
                        r.method.as_str()
                    ),
                )
                .label("not GET")
                .hint("write request = \"GET api:/path\""),
            );
            return None;
        }
        let mut protocols = Some(Vec::new());
        for protocol in raw.protocols.iter().flatten() {
            match (
                self.text(protocol, &place.of("ws.protocols")),
                protocols.as_mut(),
            ) {
                (Some(t), Some(list)) => list.push(t.value),
                _ => protocols = None,
            }
        }
        let mut send = Some(Vec::new());
        for message in raw.send.iter().flatten() {
            let what = place.of("ws.send");
            let m = message.get_ref();
            let compiled = match (&m.json, &m.text) {
                (Some(json), None) => self
                    .json_value(json, &what, Some(scope))
                    .map(WsMessage::Json),
                (None, Some(text)) => self
                    .text(text, &what)
                    .and_then(|t| self.template(&t, &what, scope))
                    .map(WsMessage::Text),
                _ => {
                    self.push(
                        Diagnostic::new(
                            Some(message.span()),
                            format!("a message of {what} needs exactly one of `json` or `text`"),
                        )
                        .label("json or text")
                        .hint("send = [{ json = { id = \"{{ uuid() }}\", message = \"hi\" } }] or send = [{ text = \"ping\" }]"),
                    );
                    None
                }
            };
            match (compiled, send.as_mut()) {
                (Some(c), Some(list)) => list.push(c),
                _ => send = None,
            }
        }
        let type_path = match &raw.type_path {
            Some(p) => self.jsonpath(p, &place.of("ws.type_path")).map(|(_, p)| p),
            None => serde_json_path::JsonPath::parse("$.type").ok(),
        };
        let expect = self.stream_expect(
            place,
            "ws",
            ws.span(),
            raw.events.as_deref(),
            true,
            (raw.unexpected.as_ref(), raw.linger.as_ref()),
            (raw.deadline.as_ref(), "30s"),
            raw.idle.as_ref(),
            raw.max_message.as_ref(),
            scope,
        );
        let close = self.ws_close(place, raw.close.as_ref());
        let (close_code, close_reason) = close?;
        Some(WsStep {
            request: request?,
            protocols: protocols?,
            send: send?,
            type_path: type_path?,
            expect: expect?,
            close_code,
            close_reason,
        })
    }

    fn ws_close(
        &mut self,
        place: &StepPlace<'_>,
        close: Option<&Spanned<RawWsClose>>,
    ) -> Option<(u16, String)> {
        let Some(close) = close else {
            return Some((1000, String::new()));
        };
        let raw = close.get_ref();
        let code = match &raw.code {
            None => Some(1000),
            Some(code) => {
                match u16::try_from(*code.get_ref()) {
                    Ok(c) if c == 1000 || (3000..=4999).contains(&c) => Some(c),
                    _ => {
                        self.push(
                        Diagnostic::new(Some(code.span()), format!("{} is not a close code a client may send ({})", code.get_ref(), place.of("ws.close.code")))
                            .label("invalid close code")
                            .hint("use 1000 (normal closure) or an application code from 3000 to 4999"),
                    );
                        None
                    }
                }
            }
        };
        let reason = match &raw.reason {
            None => Some(String::new()),
            Some(r) => self.text(r, &place.of("ws.close.reason")).map(|t| t.value),
        };
        if let Some(r) = &reason
            && r.len() > 123
        {
            self.push(
                Diagnostic::new(
                    raw.reason.as_ref().map(Spanned::span),
                    format!("{} is longer than 123 bytes", place.of("ws.close.reason")),
                )
                .label("too long")
                .hint("a close frame holds at most 123 bytes of reason"),
            );
            return None;
        }
        Some((code?, reason?))
    }

    fn sse_step(
        &mut self,
        place: &StepPlace<'_>,
        sse: &Spanned<RawSse>,
        scope: &Scope<'_>,
    ) -> Option<SseStep> {
        let raw = sse.get_ref();
        let request = self.stream_request(
            place,
            "sse",
            sse.span(),
            raw.request.as_ref(),
            raw.headers.as_ref(),
            scope,
        );
        let json = match &raw.json {
            Some(j) => self
                .json_value(j, &place.of("sse.json"), Some(scope))
                .map(Some),
            None => Some(None),
        };
        let expect = self.stream_expect(
            place,
            "sse",
            sse.span(),
            raw.events.as_deref(),
            false,
            (raw.unexpected.as_ref(), raw.linger.as_ref()),
            (raw.deadline.as_ref(), "60s"),
            raw.idle.as_ref(),
            raw.max_event.as_ref(),
            scope,
        );
        let terminal = self.terminal_events(place, raw.terminal.as_ref());
        if let (Some(expect), Some(terminal)) = (&expect, &terminal)
            && expect.events.is_empty()
            && terminal.is_empty()
        {
            self.push(
                Diagnostic::new(Some(sse.span()), format!("{} expects nothing: it has neither `events` nor `terminal`", place.of("the sse stream")))
                    .label("when does this stream end?")
                    .hint("list the events it must deliver, events = [{ type = \"run_started\" }], and/or the events that end it, terminal = { run_completed = \"completed\" }"),
            );
            return None;
        }
        let job = match &raw.job {
            None => Some(None),
            Some(j) => {
                let what = place.of("sse.job");
                self.text(j, &what)
                    .and_then(|t| self.template(&t, &what, scope))
                    .map(Some)
            }
        };
        let reconnect = self.reconnect(place, raw.reconnect.as_ref());
        let readers = match &raw.readers {
            None => Some(1),
            Some(r) => self.positive::<u32>(r, &place.of("sse.readers")),
        };
        let resume_after = match &raw.resume_after {
            None => Some(None),
            Some(n) => self
                .positive::<u64>(n, &place.of("sse.resume_after"))
                .map(Some),
        };
        Some(SseStep {
            request: request?,
            json: json?,
            expect: expect?,
            terminal: terminal?,
            job: job?,
            reconnect: reconnect?,
            readers: readers?,
            resume_after: resume_after?,
            check: raw.check.unwrap_or(true),
        })
    }

    fn stream_request(
        &mut self,
        place: &StepPlace<'_>,
        kind: &str,
        span: std::ops::Range<usize>,
        line: Option<&Str>,
        headers: Option<&OrderedMap<Str>>,
        scope: &Scope<'_>,
    ) -> Option<StreamRequest> {
        let request = match line {
            Some(line) => self.request(
                line,
                Form::Targeted,
                &place.of(&format!("{kind}.request")),
                scope,
            ),
            None => {
                self.push(
                    Diagnostic::new(Some(span), format!("{} has no `request`", place.of(kind)))
                        .label("`request` is required here")
                        .hint(format!(
                            "e.g. {kind} = {{ request = \"GET api:/api/v1/stream\", ... }}"
                        )),
                );
                None
            }
        };
        let headers = self.headers(headers, &place.of(&format!("{kind}.headers")), scope);
        let request = request?;
        Some(StreamRequest {
            method: request.method,
            target: request.target?,
            path: request.path,
            headers: headers?,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn stream_expect(
        &mut self,
        place: &StepPlace<'_>,
        kind: &str,
        span: std::ops::Range<usize>,
        events: Option<&[Spanned<RawStreamEvent>]>,
        required: bool,
        (unexpected, linger): (Option<&Str>, Option<&Str>),
        deadline: (Option<&Str>, &str),
        idle: Option<&Str>,
        max_event: Option<&Spanned<i64>>,
        scope: &Scope<'_>,
    ) -> Option<StreamExpect> {
        let events = match events {
            None if required => {
                self.push(
                    Diagnostic::new(Some(span), format!("{} has no `events`", place.of(kind)))
                        .label("`events` is required here")
                        .hint("list the events that must arrive, in order: events = [{ type = \"agent_started\" }, { type = \"agent_completed\" }]"),
                );
                None
            }
            None => Some(Vec::new()),
            Some(list) => {
                let mut out = Some(Vec::new());
                for (i, event) in list.iter().enumerate() {
                    match (
                        self.event_matcher(place, kind, i, event, scope),
                        out.as_mut(),
                    ) {
                        (Some(m), Some(v)) => v.push(m),
                        _ => out = None,
                    }
                }
                out
            }
        };
        let unexpected = match unexpected {
            None => Some(Unexpected::Allow),
            Some(value) => {
                let what = place.of(&format!("{kind}.unexpected"));
                let text = self.text(value, &what)?;
                match text.value.as_str() {
                    "allow" => Some(Unexpected::Allow),
                    "forbid" => Some(Unexpected::Forbid),
                    other => {
                        self.push(
                            Diagnostic::new(Some(text.span), format!("`{other}` is not a choice for {what}"))
                                .label("allow or forbid")
                                .hint("unexpected = \"allow\" skips other events; \"forbid\" fails the step on them"),
                        );
                        None
                    }
                }
            }
        };
        // Zero is a choice: stop at the final event (SSE), or close at once (WebSocket).
        let linger = match linger {
            None => Some(None),
            Some(value) => self
                .parsed_duration(value, &place.of(&format!("{kind}.linger")), true)
                .map(Some),
        };
        let deadline = self.duration(
            deadline.0,
            deadline.1,
            &place.of(&format!("{kind}.deadline")),
        );
        let idle = self.duration(idle, "10s", &place.of(&format!("{kind}.idle")));
        let max_event = match max_event {
            None => Some(DEFAULT_MAX_EVENT),
            Some(n) => self.positive::<usize>(n, &place.of(&format!("{kind} size cap"))),
        };
        Some(StreamExpect {
            events: events?,
            unexpected: unexpected?,
            linger: linger?,
            deadline: deadline?,
            idle: idle?,
            max_event: max_event?,
        })
    }

    fn event_matcher(
        &mut self,
        place: &StepPlace<'_>,
        kind: &str,
        index: usize,
        event: &Spanned<RawStreamEvent>,
        scope: &Scope<'_>,
    ) -> Option<EventMatcher> {
        let raw = event.get_ref();
        let what = place.of(&format!("{kind}.events[{index}]"));
        let has_json = raw.json.as_ref().is_some_and(|j| !j.0.is_empty());
        if raw.r#type.is_none() && !has_json {
            self.push(
                Diagnostic::new(
                    Some(event.span()),
                    format!("{what} matches every event: it has neither `type` nor `json`"),
                )
                .label("what must this event be?")
                .hint("{ type = \"agent_started\" } or { json = { \"$.status\" = \"done\" } }"),
            );
            return None;
        }
        let event_type = match &raw.r#type {
            None => Some(None),
            Some(t) => self.text(t, &what).map(|t| Some(t.value)),
        };
        let mut json = Some(Vec::new());
        for (source, value) in raw.json.iter().flat_map(|j| j.0.iter()) {
            let field = format!("{what} json `{source}`");
            let key = Spanned::new(value.span(), source.clone());
            let path = self.jsonpath(&key, &field);
            let equals = self.json_value(value, &field, Some(scope));
            match (path, equals, json.as_mut()) {
                (Some((source, path)), Some(equals), Some(list)) => list.push(JsonAssertion {
                    source,
                    path,
                    equals: Some(equals),
                }),
                _ => json = None,
            }
        }
        let timeout = self.duration(
            raw.timeout.as_ref(),
            "10s",
            &format!("the timeout of {what}"),
        );
        let (event_type, json) = (event_type?, json?);
        let label = match (&event_type, json.as_slice()) {
            (Some(t), _) => t.clone(),
            (None, assertions) => assertions
                .iter()
                .map(|a| match &a.equals {
                    Some(v) => format!("{} == {v}", a.source),
                    None => a.source.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        Some(EventMatcher {
            label,
            kind: event_type,
            json,
            timeout: timeout?,
        })
    }

    fn terminal_events(
        &mut self,
        place: &StepPlace<'_>,
        terminal: Option<&OrderedMap<Str>>,
    ) -> Option<Vec<(String, String)>> {
        let mut out = Some(Vec::new());
        for (event, state) in terminal.map(|t| t.0.as_slice()).unwrap_or_default() {
            match (self.text(state, &place.of("sse.terminal")), out.as_mut()) {
                (Some(s), Some(list)) => list.push((event.clone(), s.value)),
                _ => out = None,
            }
        }
        out
    }

    fn reconnect(
        &mut self,
        place: &StepPlace<'_>,
        reconnect: Option<&Spanned<RawReconnect>>,
    ) -> Option<Reconnect> {
        let raw = reconnect.map(Spanned::get_ref);
        let attempts = match raw.and_then(|r| r.attempts.as_ref()) {
            None => Some(5),
            Some(n) => {
                match u32::try_from(*n.get_ref()) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.push(
                        Diagnostic::new(
                            Some(n.span()),
                            format!(
                                "{} must be 0 or more, not {}",
                                place.of("sse.reconnect.attempts"),
                                n.get_ref()
                            ),
                        )
                        .label("out of range")
                        .hint("attempts = 0 never reconnects; attempts = 5 allows five reconnections"),
                    );
                        None
                    }
                }
            }
        };
        let backoff = self.duration(
            raw.and_then(|r| r.backoff.as_ref()),
            "250ms",
            &place.of("sse.reconnect.backoff"),
        );
        let max_backoff = self.duration(
            raw.and_then(|r| r.max_backoff.as_ref()),
            "5s",
            &place.of("sse.reconnect.max_backoff"),
        );
        let (backoff, max_backoff): (Duration, Duration) = (backoff?, max_backoff?);
        Some(Reconnect {
            attempts: attempts?,
            backoff,
            max_backoff: max_backoff.max(backoff),
        })
    }
}
