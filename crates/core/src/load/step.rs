//! One HTTP step of a virtual user: render, send, check, capture, poll, and (for a tracked step)
//! record the submit in the ledger.
//!
//! Every attempt (a poll repeats the request) takes one unit of the budget and yields exactly
//! one sample, or one cancellation when the test stops while it is in flight. An attempt that is still waiting for its poll condition is a success; the attempt
//! at which the step fails carries the failure and its reason.

use minijinja::Value;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;

use super::http::{BodyRead, Exchange, ExchangeError, exchange};
use super::http1_request::encode_request;
use super::prepared::{
    BodySpec, HeaderSpec, HeaderValueSpec, HttpSpec, PreparedStep, TargetSpec, UrlSpec, join,
};
use super::step_judge::Judgement;
use super::vu::{StepEnd, VirtualUser};
use super::{redirect, track};
use crate::ledger::history::{ScenarioRead, SubmitOutcome};
use crate::metrics::aggregator::{Event, Failure, RequestSample, TimedSample};
use shakedown_plan::template::Template;

/// The header a tracked step's key is sent in.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest body excerpt quoted in a failure message, in characters.
pub(super) const EXCERPT: usize = 120;
/// Bytes kept of a body no check reads: enough for the excerpt of a failure message (at most
/// four bytes a character, and one more to know it was cut), and the slack the excerpt reads
/// past its cut to redact a secret that straddles it.
const KEPT_FOR_EXCERPT: usize = EXCERPT * 4 + 1 + super::http::EXCERPT_SLACK;

/// How the attempts of a step ended.
enum Attempts {
    Passed,
    Failed,
    Stopped,
}

impl VirtualUser {
    /// Run an HTTP step of scenario `scenario`.
    pub(super) async fn run_http(
        &mut self,
        scenario: &str,
        step: &PreparedStep,
        spec: &HttpSpec,
    ) -> StepEnd {
        let rt = self.rt.clone();
        let method = spec.plan_method.as_str();
        // The key first: the step's other templates may use it.
        let key = match &spec.track {
            None => None,
            Some(t) => match t.key.render(&self.scope.context(step.id, None)) {
                Ok(k) => Some(k),
                Err(e) => return self.unsent(step, method, format!("track key: {e}")).await,
            },
        };
        let ctx = (spec.needs_context || key.is_some())
            .then(|| self.scope.context(step.id, key.as_deref()));
        // A fully literal request for the lean client is already encoded: nothing is built.
        let mut request = if spec.wire.is_some() {
            None
        } else {
            match self.build(spec, ctx.as_ref(), key.as_deref()) {
                Ok(r) => Some(r),
                Err(e) => return self.unsent(step, method, e.to_string()).await,
            }
        };
        let client = if spec.lean {
            if self.lean_client(spec.target).is_none() {
                let message = format!("no HTTP/1.1 client for target #{}", spec.target);
                return self.unsent(step, method, message).await;
            }
            None
        } else {
            match self.client(spec.target) {
                Ok(c) => Some(c),
                Err(e) => return self.unsent(step, method, e.to_string()).await,
            }
        };
        // The submit as sent, kept for a replay at settle when its outcome is indeterminate.
        let sent_copy = spec
            .track
            .as_ref()
            .filter(|t| t.replay_created.is_some())
            .and(request.as_ref())
            .and_then(reqwest::Request::try_clone);
        let poll_deadline = spec.poll.as_ref().map(|p| Instant::now() + p.timeout);
        let mut op = None;
        let mut last: Option<Exchange> = None;
        let mut last_failure: Option<String> = None;
        // The URL of the attempt in flight, when a tracked key's read may be this request.
        let mut seen_url: Option<String> = None;
        let ended = loop {
            if let Err(reason) = rt.budget.take() {
                rt.stop.stop(reason);
                break Attempts::Stopped;
            }
            let (ex, intended, wait) = if let Some(client) = &client {
                // reqwest: only a polled request is sent more than once; the others are not
                // copied.
                let attempt = if spec.poll.is_some() {
                    request.as_ref().and_then(reqwest::Request::try_clone)
                } else {
                    request.take()
                };
                let Some(attempt) = attempt else {
                    // Bodies are always in memory, so this does not happen; fail visibly if it
                    // does (and still complete a tracked submit below).
                    self.emit(Event::Request(RequestSample {
                        step: step.slot,
                        latency: None,
                        status: None,
                        failure: Some(Box::new(Failure {
                            method,
                            message: "request cannot be repeated".into(),
                        })),
                    }))
                    .await;
                    break Attempts::Failed;
                };
                if let (Some(key), None) = (&key, op) {
                    op = Some(rt.track.invoke(
                        scenario,
                        step.index,
                        &self.process,
                        key,
                        spec.plan_method,
                        attempt.url().as_str(),
                    ));
                }
                seen_url = (!self.tracked.is_empty()).then(|| attempt.url().to_string());
                let (intended, wait) = self.timing(Instant::now());
                let mut stop = self.take_stop_wait();
                let ex = tokio::select! {
                    biased;
                    () = stop.as_mut() => None,
                    ex = exchange(client, attempt, self.body_read(spec), &mut self.body) => Some(ex),
                };
                self.return_stop_wait(stop);
                let Some(ex) = ex else {
                    last = None;
                    self.emit(Event::Cancelled {
                        step: step.slot,
                        scheduled: wait.is_some(),
                    })
                    .await;
                    break Attempts::Stopped;
                };
                (ex, intended, wait)
            } else {
                // The lean client: the request (built or encoded once) is only borrowed.
                if let (Some(key), None, Some(r)) = (&key, op, &request) {
                    op = Some(rt.track.invoke(
                        scenario,
                        step.index,
                        &self.process,
                        key,
                        spec.plan_method,
                        r.url().as_str(),
                    ));
                }
                if !self.tracked.is_empty() {
                    seen_url = request.as_ref().map(|r| r.url().to_string());
                }
                let (intended, wait) = self.timing(Instant::now());
                let mut stop = self.take_stop_wait();
                let ex = tokio::select! {
                    biased;
                    () = stop.as_mut() => None,
                    ex = self.send_lean(spec, request.as_ref()) => Some(ex),
                };
                self.return_stop_wait(stop);
                let Some(ex) = ex else {
                    last = None;
                    self.emit(Event::Cancelled {
                        step: step.slot,
                        scheduled: wait.is_some(),
                    })
                    .await;
                    break Attempts::Stopped;
                };
                (ex, intended, wait)
            };
            if let Some(url) = seen_url.take() {
                let body = if ex.error.is_none() {
                    &self.body[..]
                } else {
                    &[]
                };
                let seen = ScenarioRead {
                    method: spec.plan_method,
                    url: &url,
                    status: ex.status,
                    body,
                };
                rt.track.scenario_read(&self.tracked, &self.process, &seen);
            }
            let judgement = self.judge(spec, &ex, ctx.as_ref());
            let timed_out = poll_deadline.is_some_and(|d| Instant::now() >= d);
            let failure = match &judgement {
                Judgement::Pass => None,
                Judgement::Fail(m) => Some(m.clone()),
                Judgement::Pending(seen) if timed_out => spec.poll.as_ref().map(|p| {
                    format!(
                        "poll-until {} not one of {} within {}ms (last: {seen})",
                        p.until.source,
                        serde_json::Value::Array(p.until.one_of.clone()),
                        p.timeout.as_millis()
                    )
                }),
                Judgement::Pending(_) => None,
            };
            last_failure.clone_from(&failure);
            self.emit(Event::Timed(TimedSample {
                sample: RequestSample {
                    step: step.slot,
                    latency: Some(ex.latency + wait.unwrap_or_default()),
                    status: ex.status,
                    failure: failure.map(|message| Box::new(Failure { method, message })),
                },
                intended,
                wait,
                body_bytes: ex.body_bytes,
            }))
            .await;
            last = Some(ex);
            match judgement {
                Judgement::Pass => break Attempts::Passed,
                Judgement::Fail(_) => break Attempts::Failed,
                Judgement::Pending(_) => {}
            }
            // Pending: wait for the next attempt, never past the poll deadline.
            let (Some(deadline), Some(poll)) = (poll_deadline, &spec.poll) else {
                break Attempts::Failed;
            };
            if timed_out {
                break Attempts::Failed;
            }
            let wake = (Instant::now() + poll.interval).min(deadline);
            tokio::select! {
                biased;
                _ = rt.stop.token().cancelled() => break Attempts::Stopped,
                _ = tokio::time::sleep_until(wake) => {}
            }
        };
        let mut end = match ended {
            Attempts::Passed => StepEnd::Passed,
            Attempts::Failed => StepEnd::Failed,
            Attempts::Stopped => StepEnd::Stopped,
        };
        if !matches!(end, StepEnd::Passed) {
            let name = rt.prepared.step_names.get(step.slot as usize);
            let name = name.map_or("?", String::as_str);
            let why = missed_because(name, last_failure.as_deref(), last.as_ref(), end);
            for capture in &spec.captures {
                self.scope.miss(&capture.name, why.clone());
            }
        }
        if let (Some(op), Some(t)) = (op, &spec.track) {
            // Rendered now, so that the read can use this step's captures.
            let key = key.as_deref().unwrap_or_default();
            let at = track::KeyContext {
                scope: &self.scope,
                step_id: step.id,
                key,
            };
            let read = track::read_request(&rt.prepared.targets[t.read_target], t, &at);
            let outcome = track::outcome(last.as_ref());
            let replay = match (&outcome, &sent_copy) {
                (SubmitOutcome::Info { .. }, Some(sent)) => track::replay_request(
                    &rt.prepared.targets[spec.target],
                    t,
                    sent,
                    spec.plan_method,
                    &spec.captures,
                    &at,
                ),
                _ => None,
            };
            let error = read.as_ref().err().cloned();
            if let Ok(r) = &read {
                self.tracked.push(track::TrackedRead {
                    key: key.to_string(),
                    scenario: scenario.to_string(),
                    step: step.index,
                    method: r.method,
                    // As the request's URL will print, so that the same request matches.
                    url: reqwest::Url::parse(&r.url).map_or_else(|_| r.url.clone(), String::from),
                });
            }
            rt.track.complete(op, outcome, read, replay);
            if let (Some(message), StepEnd::Passed) = (error, end) {
                end = self.unsent(step, method, message).await;
            }
        }
        end
    }

    /// Build the request (see [`build_request`]).
    fn build(
        &self,
        spec: &HttpSpec,
        ctx: Option<&Value>,
        key: Option<&str>,
    ) -> Result<reqwest::Request, RequestError> {
        build_request(&self.rt.prepared.targets[spec.target], spec, ctx, key)
    }

    /// How this step's response bodies are read: whole when a check reads them (captures,
    /// JSON assertions, poll, `body_contains`, or a key tracked earlier in the iteration whose
    /// read this request may be), else counted and dropped but for an excerpt.
    fn body_read(&self, spec: &HttpSpec) -> BodyRead {
        if spec.needs_body || !self.tracked.is_empty() {
            BodyRead::Whole {
                cap: self.rt.body_cap,
            }
        } else {
            BodyRead::Count {
                keep: KEPT_FOR_EXCERPT,
            }
        }
    }

    /// Send the request with the lean client and follow a redirect as reqwest would. `request`
    /// is the built request, or None when the step's request is literal (`spec.wire`).
    async fn send_lean(&mut self, spec: &HttpSpec, request: Option<&reqwest::Request>) -> Exchange {
        let cap = self.body_read(spec);
        let head_only = spec.method == reqwest::Method::HEAD;
        let VirtualUser {
            lean, wire, body, ..
        } = &mut *self;
        let Some(client) = lean.get_mut(spec.target).and_then(Option::as_mut) else {
            return unsent_exchange(format!("no HTTP/1.1 client for target #{}", spec.target));
        };
        let bytes: &[u8] = match (&spec.wire, request) {
            (Some(bytes), _) => bytes,
            (None, Some(r)) => {
                wire.clear();
                encode_request(r, wire);
                wire
            }
            (None, None) => return unsent_exchange("no request to send".to_string()),
        };
        let response = client.exchange(bytes, head_only, cap, body).await;
        let first = response.exchange;
        let (Some(location), None, Some(status)) = (response.location, &first.error, first.status)
        else {
            return first;
        };
        // A redirect: build the next request as reqwest's policy would, and let reqwest send it.
        let target = &self.rt.prepared.targets[spec.target];
        let built;
        let previous = match request {
            Some(r) => r,
            None => match build_request(target, spec, None, None) {
                Ok(r) => {
                    built = r;
                    &built
                }
                Err(_) => return first,
            },
        };
        let Some(next) = redirect::follow_up(previous, status, &location) else {
            return first;
        };
        let client = match self.client(spec.target) {
            Ok(c) => c,
            Err(e) => {
                return Exchange {
                    error: Some(ExchangeError::Request(e.to_string())),
                    ..first
                };
            }
        };
        let mut ex = exchange(&client, next, cap, &mut self.body).await;
        ex.latency += first.latency;
        ex.body_bytes += first.body_bytes;
        ex
    }
}

/// Why a step's request could not be built. Each message is the one the step's failure shows.
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestError {
    /// The rendered URL does not parse; the URL and why.
    #[error("invalid URL {text:?}: {reason}")]
    Url {
        /// The URL as rendered.
        text: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A template (of the path, a header or a raw body) failed to render.
    #[error("template {template:?}: {error}")]
    Template {
        /// The template's source.
        template: String,
        /// Why it failed.
        error: minijinja::Error,
    },
    /// The tracked key cannot be sent in a header.
    #[error("track key {0:?} is not a valid header value")]
    TrackKey(String),
    /// The JSON body's template failed to render.
    #[error("body template: {0}")]
    BodyTemplate(minijinja::Error),
    /// The rendered JSON body cannot be serialised.
    #[error("body: {0}")]
    Body(serde_json::Error),
    /// A header's template rendered to a value a header cannot hold; the header's name.
    #[error("header {0} renders to an invalid value")]
    HeaderValue(reqwest::header::HeaderName),
}

/// Build the request: URL, the target's headers, the step's headers, the key, the body.
pub(super) fn build_request(
    target: &TargetSpec,
    spec: &HttpSpec,
    ctx: Option<&Value>,
    key: Option<&str>,
) -> Result<reqwest::Request, RequestError> {
    let url = match &spec.url {
        UrlSpec::Literal(url) => url.clone(),
        UrlSpec::Template(path) => {
            let text = join(&target.base_url, &render(path, ctx)?);
            reqwest::Url::parse(&text).map_err(|e| RequestError::Url {
                reason: e.to_string(),
                text,
            })?
        }
    };
    let mut request = crate::load::http::request_with_userinfo(spec.method.clone(), url);
    let headers = request.headers_mut();
    for h in target.headers.iter().chain(&spec.headers) {
        headers.insert(h.name.clone(), header_value(h, ctx)?);
    }
    if let Some(key) = key
        && !spec.sets_idempotency_key
    {
        let value =
            HeaderValue::from_str(key).map_err(|_| RequestError::TrackKey(key.to_string()))?;
        headers.insert(IDEMPOTENCY_KEY, value);
    }
    let (bytes, json) = match &spec.body {
        None => return Ok(request),
        Some(BodySpec::Literal { bytes, json }) => (bytes.clone(), *json),
        Some(BodySpec::Json(t)) => {
            let ctx = ctx.unwrap_or(&Value::UNDEFINED);
            let doc = t.render(ctx).map_err(RequestError::BodyTemplate)?;
            let bytes = serde_json::to_vec(&doc).map_err(RequestError::Body)?;
            (bytes.into(), true)
        }
        Some(BodySpec::Raw(t)) => (render(t, ctx)?.into(), false),
    };
    if json && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    *request.body_mut() = Some(bytes.into());
    Ok(request)
}

/// Why the captures of step `name` were not made, from how the step ended.
fn missed_because(
    name: &str,
    failure: Option<&str>,
    last: Option<&Exchange>,
    end: StepEnd,
) -> String {
    match (failure, last, end) {
        (_, _, StepEnd::Stopped) => format!("step `{name}` was stopped before it completed"),
        (Some(failure), _, _) => format!("step `{name}` failed: {failure}"),
        (None, Some(Exchange { error: Some(e), .. }), _) => format!("step `{name}` failed: {e}"),
        (
            None,
            Some(Exchange {
                status: Some(s), ..
            }),
            _,
        ) => format!("step `{name}` answered {s}"),
        _ => format!("step `{name}` failed"),
    }
}

/// The exchange of a request that could not be sent at all.
fn unsent_exchange(message: String) -> Exchange {
    Exchange {
        status: None,
        latency: std::time::Duration::ZERO,
        error: Some(ExchangeError::Request(message)),
        body_bytes: 0,
    }
}

/// Render a template (literal templates skip the engine).
fn render(t: &Template, ctx: Option<&Value>) -> Result<String, RequestError> {
    if t.is_literal() {
        return Ok(t.source().to_string());
    }
    t.render(ctx.unwrap_or(&Value::UNDEFINED))
        .map_err(|error| RequestError::Template {
            template: t.source().to_string(),
            error,
        })
}

fn header_value(h: &HeaderSpec, ctx: Option<&Value>) -> Result<HeaderValue, RequestError> {
    match &h.value {
        HeaderValueSpec::Literal(v) => Ok(v.clone()),
        HeaderValueSpec::Template(t) => HeaderValue::from_str(&render(t, ctx)?)
            .map_err(|_| RequestError::HeaderValue(h.name.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_read_as_the_failures_steps_show() {
        let url = reqwest::Url::parse("http://api:99999/x").unwrap_err();
        let template = Template::parse("{{ missing }}").unwrap();
        let error = template.render(&Value::from(())).unwrap_err();
        let shown = [
            RequestError::Url {
                text: "http://api:99999/x".into(),
                reason: url.to_string(),
            }
            .to_string(),
            RequestError::Template {
                template: template.source().into(),
                error,
            }
            .to_string(),
            RequestError::TrackKey("a\nb".into()).to_string(),
            RequestError::HeaderValue(reqwest::header::HeaderName::from_static("x-run"))
                .to_string(),
        ];
        assert_eq!(
            shown[0],
            r#"invalid URL "http://api:99999/x": invalid port number"#
        );
        assert!(
            shown[1].starts_with(r#"template "{{ missing }}": "#),
            "{}",
            shown[1]
        );
        assert_eq!(shown[2], r#"track key "a\nb" is not a valid header value"#);
        assert_eq!(shown[3], "header x-run renders to an invalid value");
    }
}
