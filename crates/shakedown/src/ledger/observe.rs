//! What a read of a tracked key says, judged against the key's track spec.
//!
//! Settle and the checker share these functions, so that "terminal" means the same thing while
//! polling and when classifying, live or offline.

use serde_json::Value;

use crate::ledger::record::{JobView, MAX_RECORDED_JOBS};
use crate::plan::model::{Plan, StepKind, Track};

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
/// track's `state` path (strings as they are, anything else as JSON text). Its result count is
/// the first match of the track's `results` path, when the track has one and it is a
/// non-negative integer.
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
        })
        .collect();
    (found.len() as u64, items)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// What the jobs of one read mean for an acknowledged key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// No job.
    Absent,
    /// More than one job, or a job that reports more than one result.
    Duplicates,
    /// One job, not in a terminal state (or with no state).
    NonTerminal,
    /// One job, terminal and successful.
    Succeeded,
    /// One job, terminal in a failure state.
    Failed,
}

/// Judge a read's jobs against the track's terminal and success states.
pub fn assess(track: &Track, jobs: u64, items: &[JobView]) -> Assessment {
    if jobs == 0 {
        return Assessment::Absent;
    }
    if jobs > 1 || items.iter().any(|j| j.results.is_some_and(|n| n > 1)) {
        return Assessment::Duplicates;
    }
    let state = items.first().and_then(|j| j.state.as_deref());
    match state {
        Some(s) if track.success.iter().any(|t| t == s) => Assessment::Succeeded,
        Some(s) if track.terminal.iter().any(|t| t == s) => Assessment::Failed,
        _ => Assessment::NonTerminal,
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
        assert_eq!(assess(track, jobs, &items), Assessment::Duplicates);
    }

    #[test]
    fn one_job_is_judged_by_its_state() {
        let plan = fixtures::plan(fixtures::settle_config(1000, 10));
        let track = track_at(&plan, fixtures::SCENARIO, fixtures::STEP).unwrap();
        let job = |state: &str, results: u64| JobView {
            id: Some("r".into()),
            state: Some(state.into()),
            results: Some(results),
        };
        assert_eq!(assess(track, 0, &[]), Assessment::Absent);
        assert!(is_settled(track, &[]));
        assert_eq!(
            assess(track, 1, &[job("completed", 1)]),
            Assessment::Succeeded
        );
        assert_eq!(assess(track, 1, &[job("failed", 0)]), Assessment::Failed);
        assert_eq!(
            assess(track, 1, &[job("running", 0)]),
            Assessment::NonTerminal
        );
        assert_eq!(
            assess(track, 1, &[job("completed", 2)]),
            Assessment::Duplicates
        );
        assert!(is_settled(track, &[job("failed", 0)]));
        assert!(!is_settled(track, &[job("queued", 0)]));
    }

    #[test]
    fn a_step_without_track_has_no_spec() {
        let plan = fixtures::plan(fixtures::settle_config(1000, 10));
        assert!(track_at(&plan, fixtures::SCENARIO, 0).is_none());
        assert!(track_at(&plan, fixtures::SCENARIO, 9).is_none());
        assert!(track_at(&plan, "nope", fixtures::STEP).is_none());
    }
}
