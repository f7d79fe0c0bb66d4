//! What a read of a tracked key says, judged against the key's track spec.
//!
//! Settle and the checker share these functions, so that "terminal" means the same thing while
//! polling and when classifying, live or offline.

use serde_json::Value;

use crate::ledger::record::{JobView, MAX_RECORDED_JOBS, ReadDone};
use shakedown_plan::model::{Plan, StepKind, Track};

/// The track spec of step `step` of scenario `scenario`, if that step is a tracked HTTP step.
pub fn track_at<'p>(plan: &'p Plan, scenario: &str, step: usize) -> Option<&'p Track> {
    match &plan.scenarios.get(scenario)?.steps.get(step)?.kind {
        StepKind::Http(http) => http.track.as_ref(),
        StepKind::Think { .. } | StepKind::Ws(_) | StepKind::Sse(_) => None,
    }
}

/// The jobs a read response lists for a key: the full count, and the first
/// [`MAX_RECORDED_JOBS`] of them with their id, state and result count.
///
/// A job's id is its `id` field (a string or a number). Its state is the first match of the
/// track's `state` path (strings as they are, anything else as JSON text). Its result count and
/// attempt count are the first match of the track's `results` and `attempts` paths, when the
/// track has them and they are non-negative integers; its progress marker is the first match of
/// the `updated` path, as text.
pub fn jobs_in(track: &Track, body: &Value) -> (u64, Vec<JobView>) {
    let found = track.items.query(body).all();
    let items = found
        .iter()
        .take(MAX_RECORDED_JOBS)
        .map(|job| JobView {
            id: job.get("id").and_then(scalar_text),
            state: track.state.query(job).first().and_then(scalar_text),
            results: track
                .results
                .as_ref()
                .and_then(|path| path.query(job).first())
                .and_then(Value::as_u64),
            attempts: track
                .oracle
                .attempts
                .as_ref()
                .and_then(|path| path.query(job).first())
                .and_then(Value::as_u64),
            updated: track
                .oracle
                .updated
                .as_ref()
                .and_then(|path| path.query(job).first())
                .and_then(scalar_text),
            key: track
                .key_field
                .as_ref()
                .and_then(|path| path.query(job).first())
                .and_then(scalar_text),
        })
        .collect();
    (found.len() as u64, items)
}

/// What a read's answer says of a key, by its status alone: no job (404, 410), a body to judge
/// (2xx), or a failed read (anything else), which never decides anything by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The key has no job.
    NoJob,
    /// The body lists the key's jobs.
    Body,
    /// The read failed: why.
    Failed(String),
}

impl Answer {
    /// Judge a read's status.
    pub fn of(status: u16) -> Answer {
        match status {
            404 | 410 => Answer::NoJob,
            200..=299 => Answer::Body,
            other => Answer::Failed(format!("HTTP {other}")),
        }
    }
}

/// The completion of a read that answered `status` with the JSON `body` (or why it is not
/// JSON): what settle and a scenario's own read of a key record alike.
pub fn read_done(
    track: &Track,
    status: u16,
    body: Result<Value, String>,
) -> Result<ReadDone, ReadDone> {
    let failed = |error: String| ReadDone {
        status: Some(status),
        error: Some(error),
        ..ReadDone::default()
    };
    match Answer::of(status) {
        Answer::NoJob => Ok(ReadDone {
            status: Some(status),
            ..ReadDone::default()
        }),
        Answer::Failed(error) => Err(failed(error)),
        Answer::Body => {
            let json = body.map_err(failed)?;
            let (jobs, items) = jobs_in(track, &json);
            Ok(ReadDone {
                status: Some(status),
                jobs,
                items,
                error: None,
            })
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Whether settle can stop polling a key: it has no job, or every job it has is terminal.
/// An absent key is not waited for: its absence is what the final read will judge.
pub fn is_settled(track: &Track, items: &[JobView]) -> bool {
    items.iter().all(|job| is_terminal(track, job))
}

/// Whether one job is in a terminal state (success states count as terminal).
pub fn is_terminal(track: &Track, job: &JobView) -> bool {
    job.state.as_deref().is_some_and(|s| {
        track.terminal.iter().any(|t| t == s) || track.success.iter().any(|t| t == s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures;

    #[test]
    fn jobs_are_read_with_the_track_paths() {
        let plan = fixtures::plan(fixtures::settle_config(1000, 10));
        let track = track_at(&plan, fixtures::SCENARIO, fixtures::STEP).unwrap();
        let body = serde_json::json!({"runs": [
            {"id": "r-1", "status": "running", "result_count": 0},
            {"id": 7, "status": "completed", "result_count": 2},
        ]});
        let (jobs, items) = jobs_in(track, &body);
        assert_eq!(jobs, 2);
        assert_eq!(items[0].id.as_deref(), Some("r-1"));
        assert_eq!(items[1].id.as_deref(), Some("7"));
        assert_eq!(items[1].state.as_deref(), Some("completed"));
        assert_eq!(items[1].results, Some(2));
        assert!(!is_settled(track, &items));
        assert_eq!(
            items[0].attempts, None,
            "the fixture track has no attempts path"
        );
    }

    #[test]
    fn attempts_and_progress_are_read_when_the_track_names_them() {
        let mut plan = fixtures::plan(fixtures::settle_config(1000, 10));
        fixtures::with_oracle(&mut plan, |o| {
            o.attempts = Some(serde_json_path::JsonPath::parse("$.attempts").unwrap());
            o.updated = Some(serde_json_path::JsonPath::parse("$.updated_at").unwrap());
        });
        let track = track_at(&plan, fixtures::SCENARIO, fixtures::STEP).unwrap();
        let body = serde_json::json!({"runs": [
            {"id": "r-1", "status": "running", "attempts": 3, "updated_at": "2024-01-01T00:00:00Z"},
            {"id": "r-2", "status": "queued", "attempts": "many"},
        ]});
        let (_, items) = jobs_in(track, &body);
        assert_eq!(items[0].attempts, Some(3));
        assert_eq!(items[0].updated.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(items[1].attempts, None);
        assert_eq!(items[1].updated, None);
        let job = |state: &str| JobView {
            state: Some(state.into()),
            ..JobView::default()
        };
        assert!(is_settled(track, &[job("failed")]));
        assert!(is_settled(track, &[]));
        assert!(!is_settled(track, &[job("queued")]));
    }

    #[test]
    fn a_step_without_track_has_no_spec() {
        let plan = fixtures::plan(fixtures::settle_config(1000, 10));
        assert!(track_at(&plan, fixtures::SCENARIO, 0).is_none());
        assert!(track_at(&plan, fixtures::SCENARIO, 9).is_none());
        assert!(track_at(&plan, "nope", fixtures::STEP).is_none());
    }
}
