//! The reads of tracked keys as the history records them: the reads a scenario's own steps
//! make of a tracked job, and settle's reads and its start and end.

use super::*;
use crate::ledger::observe::{Answer, read_done, track_at};
use crate::ledger::record::{ReadDone, SettleDone, SettleInvoke};

impl Ledger {
    /// Record a read of `key` that a step of the scenario made (the same request as the key's
    /// read), judged as settle would judge it: a 404 or 410 is no job, another non-2xx or a body
    /// that is not JSON is a failed read.
    pub fn scenario_read(
        &self,
        site: TrackSite<'_>,
        process: &str,
        key: &str,
        read: &ScenarioRead<'_>,
    ) {
        let ScenarioRead {
            method,
            url,
            status,
            body,
        } = *read;
        let Some(track) = track_at(&self.plan, site.scenario, site.step) else {
            return;
        };
        let invoke = to_value(&ReadInvoke {
            method: method.as_str().to_string(),
            url: url.to_string(),
        });
        let seen = match status {
            Some(status) => {
                let json = match Answer::of(status) {
                    Answer::Body => serde_json::from_slice(body)
                        .map_err(|e| format!("response is not JSON: {e}")),
                    Answer::NoJob | Answer::Failed(_) => Ok(serde_json::Value::Null),
                };
                read_done(track, status, json)
            }
            None => Err(ReadDone {
                error: Some("no response".to_string()),
                ..ReadDone::default()
            }),
        };
        let (kind, done) = match seen {
            Ok(done) => (OpType::Ok, done),
            Err(done) => (OpType::Info, done),
        };
        for (kind, value) in [(OpType::Invoke, invoke), (kind, to_value(&done))] {
            self.record(Draft {
                process,
                kind,
                f: OpFn::Read,
                test: site.test,
                key,
                value,
            });
        }
    }

    /// Record the invoke of a read of `key`.
    pub(crate) fn read_invoke(
        &self,
        key: &TrackedKey,
        read: &ReadRequest,
        f: OpFn,
        process: &str,
    ) -> OpId {
        let value = to_value(&ReadInvoke {
            method: read.method.as_str().to_string(),
            url: read.url.clone(),
        });
        self.record(Draft {
            process,
            kind: OpType::Invoke,
            f,
            test: &key.test,
            key: &key.key,
            value,
        })
    }

    /// Record how a read of `key` ended: `Ok` with what it saw, or `Err` (an `info`) with why it
    /// failed.
    pub(crate) fn read_complete(
        &self,
        key: &TrackedKey,
        f: OpFn,
        seen: &Result<ReadDone, ReadDone>,
        process: &str,
    ) {
        let (kind, done) = match seen {
            Ok(done) => (OpType::Ok, done),
            Err(done) => (OpType::Info, done),
        };
        self.record(Draft {
            process,
            kind,
            f,
            test: &key.test,
            key: &key.key,
            value: to_value(done),
        });
    }

    /// Record the start of settle.
    pub(crate) fn settle_invoke(&self, value: &SettleInvoke) -> OpId {
        self.record(Draft {
            process: SETTLE_PROCESS,
            kind: OpType::Invoke,
            f: OpFn::Settle,
            test: "",
            key: "",
            value: to_value(value),
        })
    }

    /// Record the end of settle.
    pub(crate) fn settle_complete(&self, value: &SettleDone) {
        self.record(Draft {
            process: SETTLE_PROCESS,
            kind: OpType::Ok,
            f: OpFn::Settle,
            test: "",
            key: "",
            value: to_value(value),
        });
    }
}
