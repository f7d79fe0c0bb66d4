//! The load generator's side of the ledger: every call it makes to [`Ledger`] is here.
//!
//! A tracked step records an invoke just before its request is sent, and one completion after
//! it ends, classified as DESIGN section 7 says: ok on 2xx; fail on a 4xx or a connect error
//! (nothing was sent); info (indeterminate) on a 5xx, a timeout, any other error after sending,
//! or a request abandoned by cancellation.

use std::sync::Arc;

use minijinja::Value;

use super::http::{Exchange, ExchangeError};
use super::prepared::{HeaderValueSpec, TargetSpec, TrackSpec, join};
use super::scope::VuScope;
use crate::ledger::history::{
    KeyRead, Ledger, OpId, ReadAfterReplay, ReadRequest, ReplayRequest, ScenarioRead,
    SubmitOutcome, TrackSite,
};
use shakedown_plan::model::{Capture, Method};
use shakedown_plan::template::Template;

/// Where a tracked request is recorded.
#[derive(Debug, Clone)]
pub struct TrackSink {
    /// The run's ledger.
    pub ledger: Arc<Ledger>,
    /// The test id.
    pub test: String,
}

impl TrackSink {
    /// Record the invoke of a tracked submit.
    pub fn invoke(
        &self,
        scenario: &str,
        step: usize,
        process: &str,
        key: &str,
        method: Method,
        url: &str,
    ) -> OpId {
        let site = TrackSite {
            test: &self.test,
            scenario,
            step,
        };
        self.ledger.submit_invoke(site, process, key, method, url)
    }

    /// Record how the submit ended, with the read request settle will poll (or why there is
    /// none) and the request to replay.
    pub fn complete(
        &self,
        op: OpId,
        outcome: SubmitOutcome,
        read: KeyRead,
        replay: Option<ReplayRequest>,
    ) {
        self.ledger.submit_complete(op, outcome, read, replay);
    }
}

/// A tracked key's read request, as a later step of the same iteration may send it.
#[derive(Debug, Clone)]
pub struct TrackedRead {
    /// The client key.
    pub key: String,
    /// The scenario of the track step.
    pub scenario: String,
    /// The track step's index.
    pub step: usize,
    /// The read's method.
    pub method: Method,
    /// The read's absolute URL.
    pub url: String,
}

impl TrackSink {
    /// A step sent `method url` and got `status` with `body`: if that is a tracked key's read,
    /// the answer is recorded as a read of the key, so the ledger sees what the scenario saw.
    pub fn scenario_read(&self, tracked: &[TrackedRead], process: &str, seen: &ScenarioRead<'_>) {
        let Some(read) = tracked
            .iter()
            .find(|r| r.method == seen.method && r.url == seen.url)
        else {
            return;
        };
        let site = TrackSite {
            test: &self.test,
            scenario: &read.scenario,
            step: read.step,
        };
        self.ledger.scenario_read(site, process, &read.key, seen);
    }
}

/// The ledger outcome of a submit's last exchange; None means it was abandoned in flight.
pub fn outcome(last: Option<&Exchange>) -> SubmitOutcome {
    let Some(ex) = last else {
        return SubmitOutcome::Info {
            status: None,
            error: "abandoned in flight: the run was stopped".into(),
        };
    };
    match (ex.status, &ex.error) {
        // A 2xx acknowledges the submit, even if its body then failed to arrive in full.
        (Some(s @ 200..=299), _) => SubmitOutcome::Ok { status: s },
        (Some(s @ 400..=499), _) => SubmitOutcome::Fail {
            status: Some(s),
            error: format!("status {s}"),
        },
        (Some(s), _) => SubmitOutcome::Info {
            status: Some(s),
            error: format!("status {s}"),
        },
        (None, Some(e @ ExchangeError::Connect(_))) => SubmitOutcome::Fail {
            status: None,
            error: e.to_string(),
        },
        (None, Some(e)) => SubmitOutcome::Info {
            status: None,
            error: e.to_string(),
        },
        (None, None) => SubmitOutcome::Info {
            status: None,
            error: "no response".into(),
        },
    }
}

/// Render the track's read request with the step's context (its captures included). A read
/// whose template needs a variable this iteration does not have (a capture the step did not
/// make because it failed) is never sent: the error says which name is missing and why, and the
/// key is recorded with no read, so no read can prove its job absent.
pub fn read_request(target: &TargetSpec, track: &TrackSpec, at: &KeyContext<'_>) -> KeyRead {
    let KeyContext {
        scope,
        step_id,
        key,
    } = *at;
    let ctx = scope.context(step_id, Some(key));
    let render = |what: &str, t: &Template| {
        t.render(&ctx).map_err(|e| {
            let why = scope.unresolved(t, true).unwrap_or_else(|| e.to_string());
            format!("the track read's {what} cannot be rendered: {why}")
        })
    };
    let url = join(&target.base_url, &render("path", &track.read_path)?);
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &target.headers {
        let value = match &h.value {
            HeaderValueSpec::Literal(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            HeaderValueSpec::Template(t) => render("header", t)?,
        };
        headers.push((h.name.as_str().to_string(), value));
    }
    for h in &track.read_headers {
        let value = render("header", &h.value)?;
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&h.name));
        headers.push((h.name.clone(), value));
    }
    Ok(ReadRequest {
        method: track.read_method,
        url,
        headers,
        timeout: target.request_timeout,
        connect_timeout: target.connect_timeout,
    })
}

/// Where a tracked key's templates are rendered: the VU's scope, the step and the key.
#[derive(Debug, Clone, Copy)]
pub struct KeyContext<'a> {
    /// The VU's scope (captures of this iteration, and why some are missing).
    pub scope: &'a VuScope,
    /// The step's `__step` id.
    pub step_id: u64,
    /// The rendered key.
    pub key: &'a str,
}

/// The submit as it was sent, for a replay at settle (`resolve = "replay"`).
pub fn replay_request(
    target: &TargetSpec,
    track: &TrackSpec,
    sent: &reqwest::Request,
    plan_method: Method,
    captures: &[Capture],
    at: &KeyContext<'_>,
) -> Option<ReplayRequest> {
    let KeyContext {
        scope,
        step_id,
        key,
    } = *at;
    let created = track.replay_created.clone()?;
    let headers = sent
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Some(ReplayRequest {
        request: ReadRequest {
            method: plan_method,
            url: sent.url().to_string(),
            headers,
            timeout: target.request_timeout,
            connect_timeout: target.connect_timeout,
        },
        body: sent.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec),
        created,
        then: Arc::new(ReplayReader {
            target: target.clone(),
            track: track.clone(),
            captures: captures.to_vec(),
            scope: scope.clone(),
            step_id,
            key: key.to_string(),
        }),
    })
}

/// Renders a key's read from its replay's answer: the step's captures are taken from the
/// answer, then the read is rendered as after a successful submit.
struct ReplayReader {
    target: TargetSpec,
    track: TrackSpec,
    captures: Vec<Capture>,
    scope: VuScope,
    step_id: u64,
    key: String,
}

impl ReadAfterReplay for ReplayReader {
    fn read_after(&self, answer: &serde_json::Value) -> KeyRead {
        let mut scope = self.scope.clone();
        for capture in &self.captures {
            match capture.path.query(answer).first() {
                Some(v) => scope.capture(&capture.name, Value::from_serialize(v)),
                None => scope.miss(
                    &capture.name,
                    format!("the replay's answer has no match for {}", capture.source),
                ),
            }
        }
        let at = KeyContext {
            scope: &scope,
            step_id: self.step_id,
            key: &self.key,
        };
        read_request(&self.target, &self.track, &at)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ex(status: Option<u16>, error: Option<ExchangeError>) -> Exchange {
        Exchange {
            status,
            latency: Duration::from_millis(1),
            error,
            body_bytes: 0,
        }
    }

    #[test]
    fn outcomes_follow_design_section_7() {
        assert!(matches!(
            outcome(Some(&ex(Some(201), None))),
            SubmitOutcome::Ok { status: 201 }
        ));
        assert!(matches!(
            outcome(Some(&ex(
                Some(200),
                Some(ExchangeError::TooLarge { cap: 1 })
            ))),
            SubmitOutcome::Ok { status: 200 }
        ));
        assert!(matches!(
            outcome(Some(&ex(Some(409), None))),
            SubmitOutcome::Fail {
                status: Some(409),
                ..
            }
        ));
        assert!(matches!(
            outcome(Some(&ex(Some(503), None))),
            SubmitOutcome::Info {
                status: Some(503),
                ..
            }
        ));
        assert!(matches!(
            outcome(Some(&ex(
                None,
                Some(ExchangeError::Connect("refused".into()))
            ))),
            SubmitOutcome::Fail { status: None, .. }
        ));
        assert!(matches!(
            outcome(Some(&ex(None, Some(ExchangeError::Timeout("slow".into()))))),
            SubmitOutcome::Info { status: None, .. }
        ));
        assert!(matches!(
            outcome(Some(&ex(
                None,
                Some(ExchangeError::Request("reset".into()))
            ))),
            SubmitOutcome::Info { status: None, .. }
        ));
        assert!(matches!(
            outcome(None),
            SubmitOutcome::Info { status: None, .. }
        ));
    }
}
