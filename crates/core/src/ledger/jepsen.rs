//! The history in Jepsen's JSON history shape, so that an independent checker can cross-check
//! shakedown's classification: a JSON array, one operation per element (one per line), each with
//! `index`, `time` (nanoseconds), `type` (`invoke`, `ok`, `fail`, `info`), `process` (an
//! integer), `f` and `value`, plus `error` on a failed or indeterminate completion.
//!
//! The mapping (docs/report.md has it for users):
//!
//! - `f` is `add` for a tracked submit (Jepsen's set workload: the key is the element added),
//!   `read` for a settle poll, `final-read` for a final read, `settle` for the settle phase;
//! - `value` of every `add`, `read` and `final-read` operation is `[key, v]` (the tuple of
//!   Jepsen's `independent` checker: split the history by key), where `v` is: for `add`, the
//!   test id (invoke) and then the HTTP status (completion, null without a response); for a
//!   read's invoke, null; for an `ok` read, the jobs it saw: a list of objects with `id`,
//!   `state` and, where the track reads them, `results`, `attempts` and `updated` (at most
//!   16, with the full count in the op's `jobs`); for a read that failed, null;
//! - `value` of `settle` is its invoke's `{keys, timeout_ms, interval_ms}` and its completion's
//!   `{settled, cancelled, elapsed_ms, reads}`;
//! - `process`: each virtual user (and settle) is numbered in order of first appearance. As in
//!   Jepsen, a process whose operation ended `info` has crashed and is never used again: the
//!   virtual user continues under a new number. Settle reads run concurrently; each concurrent
//!   read gets its own number, so that every process has at most one operation in flight;
//! - `index` and `time` are the history's own (`time_ns`), on one monotonic clock.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{Value, json};

use crate::ledger::record::{OpFn, OpType, ReadDone, Record, ReplayDone, SubmitDone};

/// Writes Jepsen operations as a JSON array, one element per line.
pub struct JepsenWriter<W: Write> {
    out: W,
    written: u64,
    next_process: u64,
    /// Idle process numbers per process name.
    idle: HashMap<String, Vec<u64>>,
    /// Operations in flight: (name, f, test, key) -> process number.
    open: HashMap<(String, OpFn, String, String), u64>,
}

impl<W: Write> JepsenWriter<W> {
    /// Start the array.
    pub fn new(mut out: W) -> std::io::Result<JepsenWriter<W>> {
        out.write_all(b"[")?;
        Ok(JepsenWriter {
            out,
            written: 0,
            next_process: 0,
            idle: HashMap::new(),
            open: HashMap::new(),
        })
    }

    /// Write one history record as a Jepsen operation.
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let op = self.op(record);
        self.out
            .write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut self.out, &op)?;
        self.written += 1;
        Ok(())
    }

    /// Close the array and flush; returns how many operations were written, and the writer.
    pub fn finish(mut self) -> std::io::Result<(u64, W)> {
        self.out.write_all(b"\n]\n")?;
        self.out.flush()?;
        Ok((self.written, self.out))
    }

    fn process(&mut self, record: &Record) -> u64 {
        let slot = (
            record.process.clone(),
            record.f,
            record.test.clone(),
            record.key.clone(),
        );
        if record.kind == OpType::Invoke {
            let number = match self.idle.get_mut(&record.process).and_then(Vec::pop) {
                Some(n) => n,
                None => {
                    self.next_process += 1;
                    self.next_process - 1
                }
            };
            self.open.insert(slot, number);
            return number;
        }
        // A completion without its invoke (a truncated or hand-edited history) gets a number
        // of its own, never reused.
        let Some(number) = self.open.remove(&slot) else {
            self.next_process += 1;
            return self.next_process - 1;
        };
        if record.kind != OpType::Info {
            let idle = self.idle.entry(record.process.clone()).or_default();
            // Lowest number first, so a virtual user keeps its number while it does not crash.
            idle.push(number);
            idle.sort_unstable_by(|a, b| b.cmp(a));
        }
        number
    }

    fn op(&mut self, record: &Record) -> Value {
        let process = self.process(record);
        let kind = match record.kind {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        };
        let (f, value, error, jobs) = match record.f {
            OpFn::Submit => {
                let done: SubmitDone = record.decode();
                let v = match record.kind {
                    OpType::Invoke => json!(record.test),
                    _ => json!(done.status),
                };
                ("add", json!([record.key, v]), done.error, None)
            }
            OpFn::Read | OpFn::FinalRead => {
                let done: ReadDone = record.decode();
                let f = if record.f == OpFn::Read {
                    "read"
                } else {
                    "final-read"
                };
                match record.kind {
                    OpType::Ok => {
                        let items: Vec<Value> = done
                            .items
                            .iter()
                            .map(|j| serde_json::to_value(j).unwrap_or(Value::Null))
                            .collect();
                        (f, json!([record.key, items]), None, Some(done.jobs))
                    }
                    OpType::Invoke => (f, json!([record.key, Value::Null]), None, None),
                    OpType::Fail | OpType::Info => {
                        let error = done.error.or(done.status.map(|s| format!("HTTP {s}")));
                        (f, json!([record.key, Value::Null]), error, None)
                    }
                }
            }
            OpFn::Settle => ("settle", record.value.clone(), None, None),
            OpFn::Replay => {
                let done: ReplayDone = record.decode();
                let v = match record.kind {
                    OpType::Invoke => Value::Null,
                    _ => json!(done.status),
                };
                ("replay", json!([record.key, v]), done.error, None)
            }
        };
        let mut op = json!({
            "index": record.index,
            "time": record.time_ns,
            "type": kind,
            "process": process,
            "f": f,
            "value": value,
        });
        if let Some(map) = op.as_object_mut() {
            if let Some(error) = error {
                map.insert("error".into(), json!(error));
            }
            if let Some(jobs) = jobs {
                map.insert("jobs".into(), json!(jobs));
            }
            if !record.test.is_empty() {
                map.insert("test".into(), json!(record.test));
            }
        }
        op
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, process: &str, kind: OpType, f: OpFn, key: &str, value: Value) -> Record {
        Record {
            index,
            time_ns: index * 10,
            process: process.into(),
            kind,
            f,
            test: "L1".into(),
            key: key.into(),
            value,
        }
    }

    fn export(records: &[Record]) -> Vec<Value> {
        let mut w = JepsenWriter::new(Vec::new()).unwrap();
        for r in records {
            w.write(r).unwrap();
        }
        let (written, bytes) = w.finish().unwrap();
        assert_eq!(written, records.len() as u64);
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn an_empty_history_is_an_empty_array() {
        assert!(export(&[]).is_empty());
    }

    #[test]
    fn ops_have_the_jepsen_fields_and_a_crashed_process_is_not_reused() {
        use OpFn::*;
        use OpType::*;
        let records = vec![
            record(0, "L1/vu-0", Invoke, Submit, "a", json!({"scenario": "s"})),
            record(1, "L1/vu-0", Info, Submit, "a", json!({"error": "timeout"})),
            record(2, "L1/vu-0", Invoke, Submit, "b", json!({})),
            record(3, "L1/vu-0", Ok, Submit, "b", json!({"status": 201})),
            record(4, "settle", Invoke, Read, "a", json!({})),
            record(5, "settle", Invoke, Read, "b", json!({})),
            record(
                6,
                "settle",
                Ok,
                Read,
                "b",
                json!({"jobs": 1, "items": [{"id": "r", "state": "completed"}]}),
            ),
            record(7, "settle", Info, Read, "a", json!({"status": 503})),
            record(8, "L1/vu-0", Invoke, Submit, "c", json!({})),
        ];
        let ops = export(&records);
        assert_eq!(ops.len(), 9);
        assert_eq!(ops[0]["type"], "invoke");
        assert_eq!(ops[0]["f"], "add");
        assert_eq!(ops[0]["value"], json!(["a", "L1"]));
        assert_eq!(ops[1]["error"], "timeout");
        // vu-0 crashed on an info: its next op is a new process.
        assert_ne!(ops[2]["process"], ops[0]["process"]);
        assert_eq!(ops[3]["value"], json!(["b", 201]));
        // Two concurrent settle reads are two processes.
        assert_ne!(ops[4]["process"], ops[5]["process"]);
        assert_eq!(ops[6]["process"], ops[5]["process"]);
        assert_eq!(
            ops[6]["value"],
            json!(["b", [{"id": "r", "state": "completed"}]])
        );
        assert_eq!(ops[6]["jobs"], 1);
        assert_eq!(ops[7]["error"], "HTTP 503");
        // vu-0 did not crash on b: c reuses its number.
        assert_eq!(ops[8]["process"], ops[2]["process"]);
        assert_eq!(ops[5]["time"], 50);
    }
}
