//! The load generator's side of the ledger: every call it makes to [`Ledger`] is here.
//!
//! A tracked step records an invoke just before its request is sent, and one completion after
//! it ends, classified as DESIGN section 7 says: ok on 2xx; fail on a 4xx or a connect error
//! (nothing was sent); info (indeterminate) on a 5xx, a timeout, any other error after sending,
//! or a request abandoned by cancellation.

use std::sync::Arc;

use minijinja::Value;

use super::http::{Exchange, ExchangeError};
use super::prepared::{PreparedTest, TrackSpec, join};
use crate::ledger::history::{Ledger, OpId, ReadRequest, SubmitOutcome, TrackSite};
use crate::plan::model::Method;

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

    /// Record how the submit ended, with the read request settle will poll.
    pub fn complete(&self, op: OpId, outcome: SubmitOutcome, read: ReadRequest) {
        self.ledger.submit_complete(op, outcome, read);
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

/// Render the track's read request with the step's context (captures included). If a template
/// cannot be rendered, the read keeps the template's source in its place, so settle's reads
/// fail visibly and the key ends `unknown` rather than silently untracked; the error is returned
/// alongside for the step's failure count.
pub fn read_request(
    prepared: &PreparedTest,
    track: &TrackSpec,
    ctx: &Value,
) -> (ReadRequest, Option<String>) {
    let target = &prepared.targets[track.read_target];
    let mut error = None;
    let mut render = |what: &str, t: &crate::template::Template| match t.render(ctx) {
        Ok(s) => s,
        Err(e) => {
            error.get_or_insert_with(|| format!("track read {what}: {e}"));
            t.source().to_string()
        }
    };
    let url = join(&target.base_url, &render("path", &track.read_path));
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &target.headers {
        let value = match &h.value {
            super::prepared::HeaderValueSpec::Literal(v) => {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            }
            super::prepared::HeaderValueSpec::Template(t) => render("header", t),
        };
        headers.push((h.name.as_str().to_string(), value));
    }
    for h in &track.read_headers {
        let value = render("header", &h.value);
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&h.name));
        headers.push((h.name.clone(), value));
    }
    let read = ReadRequest {
        method: track.read_method,
        url,
        headers,
        timeout: target.request_timeout,
        connect_timeout: target.connect_timeout,
    };
    (read, error)
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
