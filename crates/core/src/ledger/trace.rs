//! What the reads of one key showed over time, kept in one bounded pass: per job (at most
//! [`MAX_TRACED_JOBS`]), its first terminal sighting, whether it was ever in a started state, its
//! highest attempt count and how long its progress has stood still; per key, the first read that
//! saw it terminal, the read before it, and the first state regression and the first conflict
//! between terminal states.
//!
//! This is what decides `state_regression`, `conflicting_terminal`, `slow` and the stuck
//! subtypes without keeping any read: memory is bounded by the number of keys.

use crate::ledger::checker::Mark;
use crate::ledger::record::{JobView, MAX_RECORDED_JOBS};
use crate::ledger::spec::TrackRules;

/// Jobs traced per key: as many as a read records.
pub const MAX_TRACED_JOBS: usize = MAX_RECORDED_JOBS;

/// A job seen in one state by one read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sighting {
    /// The read.
    pub mark: Mark,
    /// The job's id (or `#N`, its position in the read, when it has none).
    pub job: String,
    /// Its state (`(no state)` when the read found none).
    pub state: String,
}

/// What a job looked like, for telling whether it still moves: its state, attempts and
/// progress marker.
type Fingerprint = (Option<String>, Option<u64>, Option<String>);

/// Since when a job has looked the same.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    fingerprint: Fingerprint,
    /// The first read that saw it like this.
    pub since: Mark,
    /// How many reads saw it like this, in a row.
    pub reads: u32,
}

/// One job of a key, over every read that saw it.
#[derive(Debug, Clone)]
pub(crate) struct JobTrace {
    /// The job's id (or `#N`).
    pub id: String,
    /// The first read that saw it terminal.
    pub first_terminal: Option<Sighting>,
    /// Whether a read saw it in a started state.
    pub started: bool,
    /// The highest attempt count a read saw.
    pub attempts: Option<u64>,
    /// Since when it has looked the same.
    pub progress: Option<Progress>,
}

/// Everything the reads of one key showed, bounded.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyTrace {
    /// The traced jobs, in order of first sighting.
    pub jobs: Vec<JobTrace>,
    /// The first successful read that saw at least one job, every one of them terminal.
    pub terminal_at: Option<Mark>,
    /// The last successful read before `terminal_at` (it saw the key absent or non-terminal).
    pub before_terminal: Option<Mark>,
    /// The first regression: a job seen terminal, then non-terminal.
    pub regression: Option<(Sighting, Sighting)>,
    /// The first conflict: a job (or two jobs of the key) seen in two terminal states.
    pub conflict: Option<(Sighting, Sighting)>,
}

/// The trace of job `id` in `jobs`, created if there is room.
fn trace_mut<'j>(jobs: &'j mut Vec<JobTrace>, id: &str) -> Option<&'j mut JobTrace> {
    let at = match jobs.iter().position(|j| j.id == id) {
        Some(at) => at,
        None if jobs.len() < MAX_TRACED_JOBS => {
            jobs.push(JobTrace {
                id: id.to_string(),
                first_terminal: None,
                started: false,
                attempts: None,
                progress: None,
            });
            jobs.len() - 1
        }
        None => return None,
    };
    jobs.get_mut(at)
}

fn job_id(view: &JobView, position: usize) -> String {
    view.id.clone().unwrap_or_else(|| format!("#{position}"))
}

impl KeyTrace {
    /// Fold in one successful read that found `jobs` jobs, `items` of them recorded.
    pub fn observe(&mut self, rules: &TrackRules, mark: Mark, jobs: u64, items: &[JobView]) {
        let all_terminal = jobs > 0 && items.iter().all(|j| rules.is_terminal(j.state.as_deref()));
        if self.terminal_at.is_none() {
            if all_terminal {
                self.terminal_at = Some(mark);
            } else {
                self.before_terminal = Some(mark);
            }
        }
        let mut terminal_here: Option<Sighting> = None;
        for (position, view) in items.iter().enumerate() {
            let sighting = Sighting {
                mark,
                job: job_id(view, position),
                state: view
                    .state
                    .clone()
                    .unwrap_or_else(|| "(no state)".to_string()),
            };
            let terminal = rules.is_terminal(view.state.as_deref());
            if terminal {
                match &terminal_here {
                    None => terminal_here = Some(sighting.clone()),
                    Some(other) if other.state != sighting.state && self.conflict.is_none() => {
                        self.conflict = Some((other.clone(), sighting.clone()));
                    }
                    Some(_) => {}
                }
            }
            let Some(trace) = trace_mut(&mut self.jobs, &sighting.job) else {
                continue;
            };
            match (&trace.first_terminal, terminal) {
                (None, true) => trace.first_terminal = Some(sighting.clone()),
                (Some(first), true) => {
                    if first.state != sighting.state && self.conflict.is_none() {
                        self.conflict = Some((first.clone(), sighting.clone()));
                    }
                }
                (Some(first), false) => {
                    if self.regression.is_none() {
                        self.regression = Some((first.clone(), sighting.clone()));
                    }
                }
                (None, false) => {}
            }
            trace.started |= rules.is_started(view.state.as_deref());
            trace.attempts = trace.attempts.max(view.attempts);
            let fingerprint = (view.state.clone(), view.attempts, view.updated.clone());
            match &mut trace.progress {
                Some(p) if p.fingerprint == fingerprint => p.reads += 1,
                _ => {
                    trace.progress = Some(Progress {
                        fingerprint,
                        since: mark,
                        reads: 1,
                    })
                }
            }
        }
    }

    /// The trace of the job a read listed at `position`.
    pub fn job(&self, view: &JobView, position: usize) -> Option<&JobTrace> {
        let id = job_id(view, position);
        self.jobs.iter().find(|j| j.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TrackRules {
        TrackRules {
            terminal: vec!["completed".into(), "failed".into()],
            success: vec!["completed".into()],
            started: vec!["running".into()],
            attempts: Some("$.attempts".into()),
            ..TrackRules::default()
        }
    }

    fn mark(index: u64) -> Mark {
        Mark {
            index,
            time_ns: index * 1_000_000_000,
        }
    }

    fn job(id: &str, state: &str, attempts: u64) -> JobView {
        JobView {
            id: Some(id.into()),
            state: Some(state.into()),
            attempts: Some(attempts),
            ..JobView::default()
        }
    }

    #[test]
    fn the_first_terminal_read_and_the_read_before_it_are_kept() {
        let mut t = KeyTrace::default();
        t.observe(&rules(), mark(1), 0, &[]);
        t.observe(&rules(), mark(2), 1, &[job("a", "running", 1)]);
        t.observe(&rules(), mark(3), 1, &[job("a", "completed", 1)]);
        t.observe(&rules(), mark(4), 1, &[job("a", "completed", 1)]);
        assert_eq!(t.terminal_at, Some(mark(3)));
        assert_eq!(t.before_terminal, Some(mark(2)));
        assert!(t.regression.is_none() && t.conflict.is_none());
        let a = &t.jobs[0];
        assert!(a.started);
        assert_eq!(a.attempts, Some(1));
        assert_eq!(
            a.progress.as_ref().map(|p| (p.since, p.reads)),
            Some((mark(3), 2))
        );
    }

    #[test]
    fn terminal_then_running_is_a_regression_and_two_terminal_states_a_conflict() {
        let mut t = KeyTrace::default();
        t.observe(&rules(), mark(1), 1, &[job("a", "completed", 1)]);
        t.observe(&rules(), mark(2), 1, &[job("a", "running", 2)]);
        t.observe(&rules(), mark(3), 1, &[job("a", "failed", 2)]);
        let (was, now) = t.regression.clone().unwrap();
        assert_eq!((was.mark, was.state.as_str()), (mark(1), "completed"));
        assert_eq!((now.mark, now.state.as_str()), (mark(2), "running"));
        let (a, b) = t.conflict.clone().unwrap();
        assert_eq!(
            (a.state.as_str(), b.state.as_str()),
            ("completed", "failed")
        );
        assert_eq!(b.mark, mark(3));
    }

    #[test]
    fn two_jobs_ending_differently_conflict_in_one_read() {
        let mut t = KeyTrace::default();
        t.observe(
            &rules(),
            mark(1),
            2,
            &[job("a", "completed", 1), job("b", "failed", 1)],
        );
        let (a, b) = t.conflict.unwrap();
        assert_eq!((a.job.as_str(), b.job.as_str()), ("a", "b"));
        assert!(t.regression.is_none());
    }

    #[test]
    fn jobs_without_ids_are_told_apart_by_position_and_the_trace_is_bounded() {
        let mut t = KeyTrace::default();
        let many: Vec<JobView> = (0..MAX_TRACED_JOBS + 4)
            .map(|_| JobView {
                state: Some("running".into()),
                ..JobView::default()
            })
            .collect();
        t.observe(&rules(), mark(1), many.len() as u64, &many);
        assert_eq!(t.jobs.len(), MAX_TRACED_JOBS);
        assert_eq!(t.jobs[1].id, "#1");
        assert!(t.job(&many[1], 1).is_some());
    }
}
