//! The tracked jobs the ledger knows after settle, for the checks that follow each job into a
//! store (artifacts, SQL ground truth): per key, how its submit ended and what its last final
//! read saw.

use std::collections::BTreeMap;

use crate::ledger::observe::track_at;
use crate::ledger::record::{JobView, OpFn, OpType, ReadDone, Record, SubmitDone, SubmitInvoke};
use shakedown_plan::model::Plan;

/// One tracked key and the jobs its final read found.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedJob {
    /// The test (check id) that submitted it.
    pub test: String,
    /// The client key.
    pub key: String,
    /// How its strongest submit ended (`ok` acknowledged, `info` indeterminate, `fail`).
    pub submit: OpType,
    /// The HTTP status that submit answered, if a response arrived (an `info` without one
    /// never got an answer; an `invoke` never completed).
    pub status: Option<u16>,
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
                    status: None,
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
                    out[at].status = record.decode::<SubmitDone>().status;
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ledger::record::{OpFn, OpType, Record};

    const PLAN: &str = r#"
[plan]
name = "jobs"
seed = 1
limits = { duration = "1m", requests = 10 }

[targets.api]
url = "http://127.0.0.1:1"

[scenarios.submit]
steps = [
  { name = "create", request = "POST api:/runs", track = { key = "{{ uuid() }}", read = "GET api:/runs?key={{ key }}", items = "$.runs[*]", state = "$.status", terminal = ["completed"], success = ["completed"] } },
]

[[load]]
id = "L1"
scenario = "submit"
executor = { rounds = { concurrency = 1, rounds = 1 } }
"#;

    fn record(index: u64, kind: OpType, key: &str, value: serde_json::Value) -> Record {
        Record {
            index,
            time_ns: index,
            process: "L1/vu-0".into(),
            kind,
            f: OpFn::Submit,
            test: "L1".into(),
            key: key.into(),
            value,
        }
    }

    #[test]
    fn every_submitted_key_is_tracked_with_its_outcome_and_status() {
        let plan = shakedown_plan::compile_str(PLAN, Path::new("jobs.toml"), &|_| None)
            .unwrap_or_else(|e| panic!("the plan compiles: {e}"));
        let invoke = serde_json::json!({ "scenario": "submit", "step": 0 });
        let records = [
            record(0, OpType::Invoke, "a", invoke.clone()),
            record(1, OpType::Invoke, "b", invoke.clone()),
            record(2, OpType::Invoke, "c", invoke.clone()),
            record(3, OpType::Invoke, "d", invoke),
            record(4, OpType::Ok, "a", serde_json::json!({ "status": 201 })),
            record(5, OpType::Info, "b", serde_json::json!({ "status": 500 })),
            record(6, OpType::Fail, "c", serde_json::json!({ "status": 422 })),
        ];
        let jobs = tracked_jobs(&records, &plan);
        let seen: Vec<(&str, OpType, Option<u16>)> = jobs
            .iter()
            .map(|j| (j.key.as_str(), j.submit, j.status))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", OpType::Ok, Some(201)),
                ("b", OpType::Info, Some(500)),
                ("c", OpType::Fail, Some(422)),
                ("d", OpType::Invoke, None),
            ]
        );
    }
}
