//! One line of `history.jsonl`, in Jepsen's shape, and reading a saved history back.
//!
//! Every operation is an `invoke` record followed by exactly one completion (`ok`, `fail` or
//! `info`) with the same `f`, `test` and `key`. Records are numbered by `index` in the order they
//! were written, and stamped with `time_ns` on one monotonic clock that starts when the ledger is
//! created. The `value` of a record is a JSON object whose shape depends on `f` and `type`; the
//! typed views below ([`SubmitInvoke`], [`SubmitDone`], [`ReadInvoke`], [`ReadDone`],
//! [`SettleInvoke`], [`SettleDone`]) are what the ledger writes and what the checker reads back.
//! Decoding a value is lenient (missing fields take their defaults), so that a hand-edited or
//! older history can still be checked.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One record (one line) of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the history, from 0, in the order the records were written.
    pub index: u64,
    /// Nanoseconds since the ledger was created, on a monotonic clock.
    pub time_ns: u64,
    /// Who performed the operation: a virtual user (`L1/vu-3`) or `settle`.
    pub process: String,
    /// Invoke, or how the operation ended.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// What the operation is.
    pub f: OpFn,
    /// The id of the load test the key belongs to (empty for the settle operation itself).
    pub test: String,
    /// The tracked key (empty for the settle operation itself).
    pub key: String,
    /// What the operation carried or saw; see the typed views in this module.
    #[serde(default)]
    pub value: serde_json::Value,
}

/// The type of a record: the start of an operation, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation started.
    Invoke,
    /// It definitely happened.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// Indeterminate: it may or may not have happened.
    Info,
}

/// The function of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpFn {
    /// A tracked submit by a virtual user.
    Submit,
    /// A poll of a key's state during settle.
    Read,
    /// The final read of a key after settle, through a fresh connection.
    FinalRead,
    /// The settle phase itself: its invoke opens it, its completion says whether it settled.
    Settle,
    /// At settle, the submit of an indeterminate key sent again with the same key
    /// (`track.resolve = "replay"`), to learn which job it made.
    Replay,
}

impl Record {
    /// Decode `value` as `T`. A value that does not fit gives `T::default()`: the checker treats
    /// a malformed value as one that says nothing, rather than refusing the whole history.
    pub fn decode<T: DeserializeOwned + Default>(&self) -> T {
        T::deserialize(&self.value).unwrap_or_default()
    }

    /// The record as one line of JSON, without the trailing newline.
    pub fn to_line(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// The value of a submit's invoke.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubmitInvoke {
    /// HTTP method of the submit.
    pub method: String,
    /// The submit's URL (redacted).
    pub url: String,
    /// The scenario holding the track step.
    pub scenario: String,
    /// The index of the track step in the scenario's steps.
    pub step: usize,
}

/// The value of a submit's completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubmitDone {
    /// The HTTP status, if a response arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error, if the submit did not get a 2xx (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How the key will be read during settle (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadSpec>,
    /// Why no read of the key could be made (its read needs a capture the step did not
    /// make): then no read can prove the key's job absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unresolved: Option<String>,
}

/// The value of a replay's completion: `ok` when it answered with a job the key can be read by,
/// `info` when it resolved nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayDone {
    /// The HTTP status, if a response arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Whether the status says that the replay created the job (`track.replay_created`).
    pub created: bool,
    /// Why the replay resolved nothing (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The read the key is read by from now on (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadSpec>,
}

/// A read request as written to the history: credentials and secrets redacted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadSpec {
    /// HTTP method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Headers, in order, with credential values replaced.
    pub headers: Vec<HeaderField>,
}

/// One header of a recorded request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeaderField {
    /// Header name.
    pub name: String,
    /// Header value (redacted).
    pub value: String,
}

/// The value of a read's invoke (poll or final read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadInvoke {
    /// HTTP method.
    pub method: String,
    /// URL (redacted).
    pub url: String,
}

/// The value of a read's completion: what it saw (`ok`), or why it failed (`info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadDone {
    /// The HTTP status, if a response arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How many jobs the read found for the key.
    pub jobs: u64,
    /// The jobs themselves (at most [`MAX_RECORDED_JOBS`]; `jobs` is the full count).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<JobView>,
    /// Why the read failed (redacted), for an `info` completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How many jobs of one read are written to the history; the count is always complete.
pub const MAX_RECORDED_JOBS: usize = 16;

/// One job as a read saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobView {
    /// The job's `id` field, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its state, as selected by the track's `state` path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// How many results it produced, when the track has a `results` path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<u64>,
    /// How many times a worker picked it up, when the track has an `attempts` path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u64>,
    /// Its progress marker (e.g. `updated_at`), when the track has an `updated` path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// The client key the service stored with it, when the track has a `key_field` path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The value of the settle operation's invoke.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettleInvoke {
    /// Keys registered for settle when it started.
    pub keys: u64,
    /// The settle deadline, in milliseconds.
    pub timeout_ms: u64,
    /// The pause between polling rounds, in milliseconds.
    pub interval_ms: u64,
}

/// The value of the settle operation's completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettleDone {
    /// Whether every key reached a terminal state (or was absent) before the deadline.
    pub settled: bool,
    /// Whether settle was cancelled (then no final reads were made).
    pub cancelled: bool,
    /// How long settle took, final reads included, in milliseconds.
    pub elapsed_ms: u64,
    /// Reads made (polls and final reads).
    pub reads: u64,
}

/// Read a saved `history.jsonl`.
///
/// A last line that does not parse (a crash mid-write) is skipped with a warning, and every
/// complete record before it is returned. A malformed line anywhere else is an
/// [`std::io::ErrorKind::InvalidData`] error naming the line. Blank lines are ignored.
pub fn read_history(path: &Path) -> std::io::Result<(Vec<Record>, Vec<String>)> {
    let mut records = Vec::new();
    let warnings = for_each_record(path, |record| records.push(record))?;
    Ok((records, warnings))
}

/// Stream a saved `history.jsonl` through `each`, one record at a time, in file order, with the
/// rules of [`read_history`]; returns the warnings. Memory does not grow with the history.
pub fn for_each_record(path: &Path, mut each: impl FnMut(Record)) -> std::io::Result<Vec<String>> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::new(file);
    let mut warnings = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0usize;
    let mut bad: Option<(usize, String)> = None;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Some((at, error)) = bad.take() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: line {at} is not a history record: {error}",
                    path.display()
                ),
            ));
        }
        match serde_json::from_slice::<Record>(text) {
            Ok(record) => each(record),
            Err(error) => bad = Some((line_no, error.to_string())),
        }
    }
    if let Some((at, error)) = bad {
        warnings.push(format!(
            "{}: the last line ({at}) is incomplete and was ignored (the run probably stopped \
             mid-write): {error}",
            path.display()
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(index: u64, kind: OpType) -> Record {
        Record {
            index,
            time_ns: index * 1_000,
            process: "L1/vu-0".into(),
            kind,
            f: OpFn::FinalRead,
            test: "L1".into(),
            key: "k-1".into(),
            value: serde_json::to_value(ReadDone {
                status: Some(200),
                jobs: 1,
                items: vec![JobView {
                    id: Some("r-1".into()),
                    state: Some("completed".into()),
                    results: Some(1),
                    ..JobView::default()
                }],
                error: None,
            })
            .unwrap(),
        }
    }

    #[test]
    fn a_record_is_one_line_in_jepsen_shape() {
        let line = record(3, OpType::Ok).to_line().unwrap();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "ok");
        assert_eq!(v["f"], "final-read");
        assert_eq!(v["index"], 3);
        assert_eq!(v["value"]["items"][0]["state"], "completed");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, record(3, OpType::Ok));
        let seen: ReadDone = back.decode();
        assert_eq!(seen.jobs, 1);
    }

    #[test]
    fn a_malformed_value_decodes_to_the_default() {
        let mut r = record(0, OpType::Ok);
        r.value = serde_json::json!({"jobs": "many"});
        assert_eq!(r.decode::<ReadDone>(), ReadDone::default());
    }

    #[test]
    fn a_truncated_last_line_is_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..3 {
            writeln!(f, "{}", record(i, OpType::Invoke).to_line().unwrap()).unwrap();
        }
        let full = record(3, OpType::Ok).to_line().unwrap();
        write!(f, "{}", &full[..full.len() / 2]).unwrap();
        drop(f);
        let (records, warnings) = read_history(&path).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].index, 2);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("last line (4)"), "{warnings:?}");
    }

    #[test]
    fn a_malformed_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let good = record(0, OpType::Invoke).to_line().unwrap();
        std::fs::write(&path, format!("{good}\n{{\"index\": 1,\n{good}\n")).unwrap();
        let err = read_history(&path).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn a_complete_history_has_no_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let lines: Vec<String> = (0..2)
            .map(|i| record(i, OpType::Invoke).to_line().unwrap())
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n\n").unwrap();
        let (records, warnings) = read_history(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert!(warnings.is_empty());
    }
}
