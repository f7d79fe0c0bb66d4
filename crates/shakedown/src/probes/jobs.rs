//! The tracked jobs the ledger knows after settle, for the checks that follow each job into a
//! store (artifacts, SQL ground truth): per key, how its submit ended and what its last final
//! read saw.

use std::collections::BTreeMap;

use crate::ledger::observe::track_at;
use crate::ledger::record::{JobView, OpFn, OpType, ReadDone, Record, SubmitInvoke};
use crate::plan::model::Plan;

/// One tracked key and the jobs its final read found.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedJob {
    /// The test (check id) that submitted it.
    pub test: String,
    /// The client key.
    pub key: String,
    /// How its strongest submit ended (`ok` acknowledged, `info` indeterminate, `fail`).
    pub submit: OpType,
    /// The jobs its last successful final read saw (None: no such read).
    pub jobs: Option<Vec<JobView>>,
    /// The track's terminal states and success states.
    pub terminal: Vec<String>,
    /// The track's success states.
    pub success: Vec<String>,
}

impl TrackedJob {
    /// The jobs that ended in a success state.
    pub fn succeeded(&self) -> impl Iterator<Item = &JobView> {
        self.jobs.iter().flatten().filter(|j| {
            j.state
                .as_ref()
                .is_some_and(|s| self.success.iter().any(|ok| ok == s))
        })
    }

    /// Whether the submit was acknowledged (or found later).
    pub fn acknowledged(&self) -> bool {
        self.submit == OpType::Ok || self.jobs.as_ref().is_some_and(|j| !j.is_empty())
    }
}

fn rank(kind: OpType) -> u8 {
    match kind {
        OpType::Ok => 3,
        OpType::Info => 2,
        OpType::Fail => 1,
        OpType::Invoke => 0,
    }
}

/// Every tracked key of `records`, in order of first submit.
pub fn tracked_jobs(records: &[Record], plan: &Plan) -> Vec<TrackedJob> {
    let mut slots: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut out: Vec<TrackedJob> = Vec::new();
    for record in records {
        let id = (record.test.clone(), record.key.clone());
        match (record.f, record.kind) {
            (OpFn::Submit, OpType::Invoke) => {
                if slots.contains_key(&id) {
                    continue;
                }
                let invoke: SubmitInvoke = record.decode();
                let Some(track) = track_at(plan, &invoke.scenario, invoke.step) else {
                    continue;
                };
                slots.insert(id, out.len());
                out.push(TrackedJob {
                    test: record.test.clone(),
                    key: record.key.clone(),
                    submit: OpType::Invoke,
                    jobs: None,
                    terminal: track.terminal.clone(),
                    success: track.success.clone(),
                });
            }
            (OpFn::Submit, kind) => {
                if let Some(&at) = slots.get(&id)
                    && rank(kind) > rank(out[at].submit)
                {
                    out[at].submit = kind;
                }
            }
            (OpFn::FinalRead, OpType::Ok) => {
                if let Some(&at) = slots.get(&id) {
                    let done: ReadDone = record.decode();
                    out[at].jobs = Some(done.items);
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `job` is in one of `terminal` states (for callers without the track).
pub fn is_terminal_state(terminal: &[String], job: &JobView) -> bool {
    job.state.as_ref().is_some_and(|s| terminal.contains(s))
}
