//! The stream checker (DESIGN section 7): per job and consumer, a stream must be ordered, have
//! no duplicates across resumes and no gaps (the union of ids over every reconnect is
//! contiguous), resume right after its `Last-Event-ID`, end with a terminal event whose state
//! agrees with the job's final state in the ledger, and fail in bounded time with an explicit
//! error, never hang silent.
//!
//! SSE steps write one [`StreamRecord`] per consumer to `streams.jsonl` through the
//! [`StreamLog`]; after settle, [`StreamLog::check`] reads it back one line at a time and folds
//! it with [`StreamChecker`], so memory is bounded by the examples kept, not by the streams.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ledger::record::{OpFn, OpType, ReadDone, Record};
use crate::ledger::stream_record::{StreamRecord, missing_ids};
use crate::stop::RunStop;
use shakedown_plan::redact::Redactor;

pub use crate::ledger::stream_record::StreamTrace;

/// The file SSE streams are recorded in, next to `history.jsonl`.
pub const STREAMS_FILE: &str = "streams.jsonl";
/// Examples kept per test.
pub const MAX_STREAM_EXAMPLES: usize = 32;
/// Missing ids named per example.
const MAX_NAMED_IDS: usize = 16;

/// The failure class that means a stream went silent past its idle limit.
pub const HUNG: &str = "hung";

/// The append-only log of stream records. `Send + Sync`; the file is created on first use.
#[derive(Debug)]
pub struct StreamLog {
    path: PathBuf,
    redactor: Redactor,
    inner: Mutex<LogState>,
    /// Where the first failed write stops the run (None outside a run).
    stop: Option<RunStop>,
}

#[derive(Debug, Default)]
struct LogState {
    writer: Option<BufWriter<File>>,
    written: u64,
    error: Option<String>,
}

impl StreamLog {
    /// A log at `path` (not created until the first record).
    pub fn new(path: &Path, redactor: Redactor) -> StreamLog {
        StreamLog {
            path: path.to_path_buf(),
            redactor,
            inner: Mutex::new(LogState::default()),
            stop: None,
        }
    }

    /// Stop the run through `stop` when a write fails: stream records are evidence.
    pub fn stopping(mut self, stop: RunStop) -> StreamLog {
        self.stop = Some(stop);
        self
    }

    /// Keep the first write error, and stop the run with it.
    fn failed(&self, state: &mut LogState, error: &std::io::Error) {
        if let Some(stop) = &self.stop {
            stop.write_failed(&self.path, error);
        }
        state
            .error
            .get_or_insert_with(|| format!("cannot write {}: {error}", self.path.display()));
    }

    /// Append one record (redacted). A write error is kept and reported by [`StreamLog::check`].
    pub fn record(&self, record: &StreamRecord) {
        let line = match self.redactor.json_line(record) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = %e, "streams: cannot encode a record");
                return;
            }
        };
        let Ok(mut state) = self.inner.lock() else {
            return;
        };
        if state.error.is_some() {
            return;
        }
        if state.writer.is_none() {
            match File::create(&self.path) {
                Ok(f) => state.writer = Some(BufWriter::new(f)),
                Err(e) => {
                    self.failed(&mut state, &e);
                    return;
                }
            }
        }
        let written = state
            .writer
            .as_mut()
            .map(|w| writeln!(w, "{line}"))
            .transpose();
        match written {
            Ok(_) => state.written += 1,
            Err(e) => self.failed(&mut state, &e),
        }
    }

    /// Records written so far.
    pub fn len(&self) -> u64 {
        self.inner.lock().map_or(0, |s| s.written)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flush the file to disk.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut state = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("the stream log's lock is poisoned"))?;
        if let Some(error) = &state.error {
            return Err(std::io::Error::other(error.clone()));
        }
        let flushed = match state.writer.as_mut() {
            Some(w) => w.flush().and_then(|()| w.get_ref().sync_data()),
            None => Ok(()),
        };
        if let Err(e) = &flushed {
            self.failed(&mut state, e);
        }
        flushed
    }

    /// Check every recorded stream against the jobs' final states, per test.
    pub fn check(
        &self,
        final_states: &HashMap<String, String>,
    ) -> std::io::Result<BTreeMap<String, StreamCheckSummary>> {
        let mut checker = StreamChecker::default();
        if self.is_empty() {
            return Ok(checker.finish());
        }
        self.flush()?;
        let reader = BufReader::new(File::open(&self.path)?);
        for (n, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: StreamRecord = serde_json::from_str(&line).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} line {}: {e}", self.path.display(), n + 1),
                )
            })?;
            checker.observe(&record, final_states);
        }
        Ok(checker.finish())
    }
}

/// Every job's final state, from the successful final reads of a history (last one wins).
pub fn final_states(records: &[Record]) -> HashMap<String, String> {
    let mut states = HashMap::new();
    for r in records
        .iter()
        .filter(|r| r.f == OpFn::FinalRead && r.kind == OpType::Ok)
    {
        let done: ReadDone = r.decode();
        for job in done.items {
            if let (Some(id), Some(state)) = (job.id, job.state) {
                states.insert(id, state);
            }
        }
    }
    states
}

/// One example of a stream that broke a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamExample {
    /// The job the stream follows.
    pub job: String,
    /// Who read it.
    pub consumer: String,
    /// The rule it broke: `gap`, `duplicate`, `out-of-order`, `resume`, `terminal-mismatch`
    /// or `hung`. The step's own failure class counts for the rule of the same name
    /// (`duplicate`, `out-of-order`, `hung`), so that the check and the step agree.
    pub violation: String,
    /// What was seen, naming the event ids.
    pub why: String,
}

/// The stream check of one test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamCheckSummary {
    /// Streams checked (one per consumer and job).
    pub streams: u64,
    /// Streams that received every expected event.
    pub completed: u64,
    /// Streams that failed with an explicit taxonomy class (bounded, never silent).
    pub failed: u64,
    /// Reconnections over all streams.
    pub reconnects: u64,
    /// Streams that broke a rule, by rule (every rule present, zero included).
    pub violations: BTreeMap<String, u64>,
    /// Streams whose terminal state could not be compared: the job has no final read.
    pub unverified: u64,
    /// Up to 32 examples, each naming the ids involved.
    pub examples: Vec<StreamExample>,
}

impl StreamCheckSummary {
    /// Streams that broke any rule (a stream breaking two rules counts in both).
    pub fn violation_count(&self) -> u64 {
        self.violations.values().sum()
    }
}

/// Every rule, in report order.
pub const RULES: [&str; 6] = [
    "gap",
    "duplicate",
    "out-of-order",
    "resume",
    "terminal-mismatch",
    HUNG,
];

/// The rules a stream breaks when its step failed with the class of the same name.
const FROM_THE_STEP: [&str; 3] = ["duplicate", "out-of-order", HUNG];

/// Folds stream records into per-test summaries.
#[derive(Debug, Default)]
pub struct StreamChecker {
    tests: BTreeMap<String, StreamCheckSummary>,
}

impl StreamChecker {
    /// Judge one stream.
    pub fn observe(&mut self, r: &StreamRecord, final_states: &HashMap<String, String>) {
        let s = self
            .tests
            .entry(r.test.clone())
            .or_insert_with(|| StreamCheckSummary {
                violations: RULES.iter().map(|v| (v.to_string(), 0)).collect(),
                ..StreamCheckSummary::default()
            });
        s.streams += 1;
        s.reconnects += r.connection_count.saturating_sub(1);
        if r.failure_class.is_some() {
            s.failed += 1;
        } else {
            s.completed += 1;
        }
        let mut found: Vec<(&str, String)> = Vec::new();
        let resumes = resume_breaks(r);
        let (missing, total_missing) = missing_ids(&r.ids, MAX_NAMED_IDS);
        if total_missing > 0 {
            let mut why = format!(
                "missing event ids {}{} ({total_missing} in all, between {} and {})",
                join(&missing),
                if (missing.len() as u64) < total_missing {
                    ", ..."
                } else {
                    ""
                },
                r.ids.first().map_or(0, |x| x.0),
                r.ids.last().map_or(0, |x| x.1),
            );
            if !resumes.is_empty() {
                why.push_str(&format!("; {}", resumes.join("; ")));
            }
            found.push(("gap", why));
        }
        if !r.duplicates.is_empty() {
            found.push((
                "duplicate",
                format!("event ids {} delivered more than once", join(&r.duplicates)),
            ));
        }
        if !r.out_of_order.is_empty() {
            let pairs: Vec<String> = r
                .out_of_order
                .iter()
                .filter(|(prev, this)| prev != this)
                .map(|(prev, this)| format!("{this} after {prev}"))
                .collect();
            if !pairs.is_empty() {
                found.push((
                    "out-of-order",
                    format!("event ids out of order: {}", pairs.join(", ")),
                ));
            }
        }
        if !resumes.is_empty() {
            found.push(("resume", resumes.join("; ")));
        }
        if let Some(state) = &r.terminal_state {
            match final_states.get(&r.job) {
                Some(final_state) if final_state != state => found.push((
                    "terminal-mismatch",
                    format!(
                        "the stream ended with {} ({state}), but the job's final state is {final_state}",
                        r.terminal.as_deref().unwrap_or("?")
                    ),
                )),
                Some(_) => {}
                None => s.unverified += 1,
            }
        }
        // The step's own class, where it names a rule: the check agrees with the step even when
        // the ids show nothing (events without ids, or a repeat with a fresh id).
        if let Some(class) = r.failure_class.as_deref()
            && let Some(rule) = FROM_THE_STEP.into_iter().find(|rule| *rule == class)
            && !found.iter().any(|(seen, _)| *seen == rule)
        {
            found.push((rule, r.failure.clone().unwrap_or_else(|| rule.to_string())));
        }
        for (rule, why) in found {
            *s.violations.entry(rule.to_string()).or_default() += 1;
            if s.examples.len() < MAX_STREAM_EXAMPLES {
                s.examples.push(StreamExample {
                    job: r.job.clone(),
                    consumer: r.consumer.clone(),
                    violation: rule.to_string(),
                    why,
                });
            }
        }
    }

    /// The summaries, per test id.
    pub fn finish(self) -> BTreeMap<String, StreamCheckSummary> {
        self.tests
    }
}

/// "resume after 2 started at 4" for each resume that did not start right after its
/// `Last-Event-ID`.
fn resume_breaks(r: &StreamRecord) -> Vec<String> {
    r.connections
        .iter()
        .filter_map(|c| {
            let from = c.resumed_from.as_deref()?.trim().parse::<u64>().ok()?;
            let first = c.first_id.as_deref()?.trim().parse::<u64>().ok()?;
            (first != from + 1).then(|| {
                let what = if first > from + 1 {
                    let gone: Vec<u64> = (from + 1..first).take(MAX_NAMED_IDS).collect();
                    format!("skipping {}", join(&gone))
                } else {
                    "repeating events".to_string()
                };
                format!("resume after {from} started at {first} ({what})")
            })
        })
        .collect()
}

fn join(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::stream_record::StreamTrace;

    fn stream(ids_per_connection: &[&[&str]], terminal: Option<&str>) -> StreamRecord {
        let mut t = StreamTrace::new("C2", "events", "run-1", "C2/vu-1/it-0/r-0".into());
        let mut last: Option<String> = None;
        for ids in ids_per_connection {
            t.connect(last.as_deref());
            for id in *ids {
                t.event(Some(id));
                last = Some((*id).to_string());
            }
            t.disconnect("eof");
        }
        if let Some(state) = terminal {
            t.terminal("run_completed", state);
        }
        t.finish(None, 10)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_of_stream_records_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STREAMS_FILE);
        // Every write to /dev/full fails with "no space left on device".
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let run = tokio_util::sync::CancellationToken::new();
        let stop = RunStop::new(run.clone());
        let log = StreamLog::new(&path, Redactor::default()).stopping(stop.clone());
        let record = stream(&[&["1", "2", "3"]], Some("completed"));
        // Buffered: the first write that reaches the disk is the one that fails.
        for _ in 0..10_000 {
            if run.is_cancelled() {
                break;
            }
            log.record(&record);
        }
        if !run.is_cancelled() {
            assert!(log.flush().is_err(), "the flush reaches the disk");
        }
        assert!(run.is_cancelled(), "the run is stopped");
        let failure = stop.write_failure().expect("kept");
        assert!(failure.contains(STREAMS_FILE), "{failure}");
        assert!(failure.contains("No space left on device"), "{failure}");
    }

    fn check(records: &[StreamRecord], states: &[(&str, &str)]) -> StreamCheckSummary {
        let states: HashMap<String, String> = states
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut c = StreamChecker::default();
        for r in records {
            c.observe(r, &states);
        }
        c.finish().remove("C2").expect("a summary for C2")
    }

    #[test]
    fn a_clean_resumed_stream_passes() {
        let s = check(
            &[stream(&[&["1", "2"], &["3", "4", "5"]], Some("completed"))],
            &[("run-1", "completed")],
        );
        assert_eq!(s.violation_count(), 0, "{s:?}");
        assert_eq!((s.streams, s.completed, s.reconnects), (1, 1, 1));
        assert_eq!(s.unverified, 0);
    }

    #[test]
    fn a_resume_that_skips_names_the_missing_ids() {
        let s = check(
            &[stream(&[&["1", "2"], &["4", "5"]], Some("completed"))],
            &[("run-1", "completed")],
        );
        assert_eq!(s.violations["gap"], 1);
        assert_eq!(s.violations["resume"], 1);
        let gap = &s.examples[0];
        assert_eq!(gap.violation, "gap");
        assert!(gap.why.contains("missing event ids 3"), "{}", gap.why);
        assert!(
            gap.why.contains("resume after 2 started at 4"),
            "{}",
            gap.why
        );
    }

    #[test]
    fn duplicates_order_terminal_and_hangs_are_each_caught() {
        let dup = stream(&[&["1", "2"], &["2", "3"]], Some("completed"));
        let s = check(&[dup], &[("run-1", "completed")]);
        assert_eq!(s.violations["duplicate"], 1);
        assert_eq!(s.violations["resume"], 1);
        assert_eq!(s.violations["out-of-order"], 0, "a repeat is not a reorder");

        let reordered = stream(&[&["1", "3", "2"]], None);
        let s = check(&[reordered], &[]);
        assert_eq!(s.violations["out-of-order"], 1);
        assert!(s.examples[0].why.contains("2 after 3"));

        let mismatch = stream(&[&["1"]], Some("completed"));
        let s = check(std::slice::from_ref(&mismatch), &[("run-1", "failed")]);
        assert_eq!(s.violations["terminal-mismatch"], 1);
        let s = check(&[mismatch], &[]);
        assert_eq!((s.violation_count(), s.unverified), (0, 1));

        let mut t = StreamTrace::new("C2", "events", "run-1", "c".into());
        t.connect(None);
        let hung = t.finish(Some((HUNG, "hung: no byte for 1000ms")), 1000);
        let s = check(&[hung], &[]);
        assert_eq!(s.violations[HUNG], 1);
        assert_eq!(s.failed, 1);
    }

    #[test]
    fn the_check_agrees_with_the_steps_class_and_counts_a_stream_once() {
        // A repeat with a fresh id: only the step saw it.
        let mut t = StreamTrace::new("C2", "events", "run-1", "c".into());
        t.connect(None);
        for id in ["1", "2", "3"] {
            t.event(Some(id));
        }
        let message =
            "duplicate(run_completed): the terminal event run_completed arrived a second time";
        let fresh = t.finish(Some(("duplicate", message)), 10);
        let s = check(&[fresh], &[]);
        assert_eq!(s.violations["duplicate"], 1);
        assert_eq!(s.examples[0].why, message);
        // A repeat with the same id: the ids and the step agree, and it counts once.
        let mut t = StreamTrace::new("C2", "events", "run-1", "c".into());
        t.connect(None);
        for id in ["1", "2", "2"] {
            t.event(Some(id));
        }
        let same = t.finish(Some(("duplicate", message)), 10);
        let s = check(&[same], &[]);
        assert_eq!(s.violations["duplicate"], 1);
        assert_eq!(s.examples.len(), 1);
        assert!(
            s.examples[0].why.contains("event ids 2"),
            "{:?}",
            s.examples
        );
        // A class that names no rule is a failure, not a violation.
        let mut t = StreamTrace::new("C2", "events", "run-1", "c".into());
        t.connect(None);
        let missing = t.finish(Some(("missing", "missing(a): a never arrived")), 10);
        let s = check(&[missing], &[]);
        assert_eq!((s.failed, s.violation_count()), (1, 0));
    }

    #[test]
    fn final_states_come_from_successful_final_reads() {
        let record = |kind, f, items: serde_json::Value| Record {
            index: 0,
            time_ns: 0,
            process: "settle".into(),
            kind,
            f,
            test: "L1".into(),
            key: "k".into(),
            value: serde_json::json!({ "jobs": 1, "items": items }),
        };
        let records = vec![
            record(
                OpType::Ok,
                OpFn::Read,
                serde_json::json!([{ "id": "a", "state": "running" }]),
            ),
            record(
                OpType::Ok,
                OpFn::FinalRead,
                serde_json::json!([{ "id": "a", "state": "completed" }]),
            ),
        ];
        let states = final_states(&records);
        assert_eq!(states.get("a").map(String::as_str), Some("completed"));
    }
}
