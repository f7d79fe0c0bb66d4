//! The ledger: the append-only `history.jsonl` of tracked work, and the registry of keys that
//! settle polls.
//!
//! The load generator records each tracked submit with [`Ledger::submit_invoke`] and
//! [`Ledger::submit_complete`]; settle records its reads through the crate-internal methods of
//! the child module `reads` (as do the scenario's own reads of a tracked job). Every record is
//! redacted, numbered, stamped on the ledger's monotonic clock, appended to the file, and folded
//! into a [`Checker`] under one `std::sync::Mutex` that is held only for the append (never
//! across an `.await`).
//!
//! Memory is bounded by the number of keys, not the number of reads: the file holds the history,
//! and memory holds one registry entry and one checker entry per key (plus the submits in
//! flight). [`Ledger::summaries`] classifies from that memory with the same fold that
//! [`crate::ledger::checker::classify`] runs over a saved history.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ledger::checker::Checker;
use crate::ledger::record::{
    HeaderField, OpFn, OpType, ReadInvoke, ReadSpec, Record, ReplayDone, SubmitDone, SubmitInvoke,
    read_history,
};
use crate::ledger::spec::{LEDGER_SPEC, LedgerSpec};
use crate::ledger::summary::LedgerSummary;
use crate::stop::RunStop;
use shakedown_plan::model::{Method, Plan};
use shakedown_plan::redact::Redactor;

mod reads;

/// Where a tracked submit comes from: the track spec is plan.scenarios[scenario].steps[step].
#[derive(Debug, Clone, Copy)]
pub struct TrackSite<'a> {
    /// The load test's id, e.g. `L1`.
    pub test: &'a str,
    /// The scenario holding the track step.
    pub scenario: &'a str,
    /// The index of the track step in the scenario.
    pub step: usize,
}

/// The id of an operation: the `index` of its invoke record.
pub type OpId = u64;

/// A fully rendered request (URL joined to the target's base, headers rendered).
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers, rendered (they may hold credentials: they are redacted before being written).
    pub headers: Vec<(String, String)>,
    /// Timeout of the whole request.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

/// How a submit ended (DESIGN section 7): Ok on 2xx; Fail on a 4xx (a documented rejection) or
/// a connect error before any byte was sent; Info (indeterminate) on 5xx, timeout, or a reset or
/// any other error after sending.
#[derive(Debug, Clone)]
pub enum SubmitOutcome {
    /// Acknowledged with a 2xx.
    Ok {
        /// The status.
        status: u16,
    },
    /// Definitely not applied.
    Fail {
        /// The status, if a response arrived.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// Indeterminate: it may or may not have been applied.
    Info {
        /// The status, if a response arrived.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
}

/// The submit of an indeterminate key, kept so that settle can send it again with the same key
/// (`track.resolve = "replay"`), and learn from the answer how to read the job.
#[derive(Clone)]
pub struct ReplayRequest {
    /// The submit as it was sent: method, URL, headers (the key's header included), timeouts.
    pub request: ReadRequest,
    /// Its body, as it was sent.
    pub body: Option<Vec<u8>>,
    /// Statuses with which the replay says it created the job.
    pub created: Vec<u16>,
    /// How the key's read request is made from the replay's answer.
    pub then: Arc<dyn ReadAfterReplay>,
}

impl std::fmt::Debug for ReplayRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayRequest")
            .field("method", &self.request.method)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Renders a key's read request from the JSON answer of its replay (the step's captures taken
/// from it), as the load generator would have after a successful submit.
pub trait ReadAfterReplay: Send + Sync {
    /// The read request, or why it cannot be made (a capture missing from the answer).
    fn read_after(&self, answer: &serde_json::Value) -> Result<ReadRequest, String>;
}

/// How a key can be read: the rendered read request, or why there is none.
pub type KeyRead = Result<ReadRequest, String>;

/// A request a step of the scenario made that is a tracked key's read, and its answer.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioRead<'a> {
    /// Its method.
    pub method: Method,
    /// Its URL.
    pub url: &'a str,
    /// The answer's status, if an answer came.
    pub status: Option<u16>,
    /// The answer's body (empty when none).
    pub body: &'a [u8],
}

/// One key registered for settle: how to read it, and whether a poll found it settled.
#[derive(Debug)]
pub(crate) struct TrackedKey {
    /// The load test's id.
    pub test: String,
    /// The client key, as the load generator gave it.
    pub key: String,
    /// The scenario of the track step.
    pub scenario: String,
    /// The track step's index.
    pub step: usize,
    /// The rendered read request (never written unredacted), or why none could be rendered.
    pub read: KeyRead,
    /// The submit to send again at settle, for an indeterminate submit of a track that
    /// resolves by replay.
    pub replay: Option<ReplayRequest>,
    /// Set once a poll saw every job of the key terminal, or no job.
    pub settled: AtomicBool,
}

impl TrackedKey {
    /// The same key, read by `read` from now on (after a replay), and not yet settled.
    fn read_by(&self, read: ReadRequest) -> TrackedKey {
        TrackedKey {
            test: self.test.clone(),
            key: self.key.clone(),
            scenario: self.scenario.clone(),
            step: self.step,
            read: Ok(read),
            replay: None,
            settled: AtomicBool::new(false),
        }
    }
}

/// A submit between its invoke and its completion.
struct PendingSubmit {
    test: String,
    key: String,
    process: String,
    scenario: String,
    step: usize,
}

struct Inner {
    writer: BufWriter<File>,
    next_index: u64,
    /// The first write error, reported by every later `flush`.
    write_error: Option<std::io::Error>,
    checker: Checker,
    pending: HashMap<OpId, PendingSubmit>,
    keys: Vec<Arc<TrackedKey>>,
    key_slots: HashMap<(String, String), usize>,
}

/// The append-only history of tracked work, and the keys settle must poll. `Send + Sync`.
pub struct Ledger {
    path: PathBuf,
    plan: Arc<Plan>,
    redactor: Redactor,
    start: Instant,
    inner: Mutex<Inner>,
    /// SSE streams, recorded next to the history in `streams.jsonl`.
    streams: crate::ledger::streams::StreamLog,
    /// Where the first failed write stops the run.
    stop: RunStop,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.path)
            .field("tracked", &self.tracked())
            .finish()
    }
}

/// A record before it is numbered and stamped.
struct Draft<'a> {
    process: &'a str,
    kind: OpType,
    f: OpFn,
    test: &'a str,
    key: &'a str,
    value: serde_json::Value,
}

impl Ledger {
    /// Create `history.jsonl` at `path` (truncating), redacting everything written with `redactor`,
    /// and write the plan's [`LedgerSpec`] next to it as `ledger-spec.json`, so that the history
    /// can be checked again offline. A failed write is only kept (outside a run).
    pub fn create(
        path: &Path,
        plan: Arc<Plan>,
        redactor: Redactor,
    ) -> std::io::Result<Arc<Ledger>> {
        Ledger::create_in_run(path, plan, redactor, RunStop::unwatched())
    }

    /// [`Ledger::create`] for a run: the first write of the history, the stream log or the
    /// spec that fails stops the run through `stop`.
    pub fn create_in_run(
        path: &Path,
        plan: Arc<Plan>,
        redactor: Redactor,
        stop: RunStop,
    ) -> std::io::Result<Arc<Ledger>> {
        let spec = LedgerSpec::from_plan(&plan);
        let mut spec_json = serde_json::to_value(&spec).map_err(std::io::Error::other)?;
        redactor.redact_json(&mut spec_json);
        let spec_text = serde_json::to_string_pretty(&spec_json).map_err(std::io::Error::other)?;
        let spec_path = path.with_file_name(LEDGER_SPEC);
        std::fs::write(&spec_path, spec_text + "\n")
            .inspect_err(|e| stop.write_failed(&spec_path, e))?;
        let file = File::create(path).inspect_err(|e| stop.write_failed(path, e))?;
        let streams = crate::ledger::streams::StreamLog::new(
            &path.with_file_name(crate::ledger::streams::STREAMS_FILE),
            redactor.clone(),
        )
        .stopping(stop.clone());
        Ok(Arc::new(Ledger {
            path: path.to_path_buf(),
            streams,
            stop,
            plan,
            redactor,
            start: Instant::now(),
            inner: Mutex::new(Inner {
                writer: BufWriter::new(file),
                next_index: 0,
                write_error: None,
                checker: Checker::new(spec),
                pending: HashMap::new(),
                keys: Vec::new(),
                key_slots: HashMap::new(),
            }),
        }))
    }

    /// Record the invoke of a tracked submit. `process` names the VU, e.g. "L1/vu-3".
    pub fn submit_invoke(
        &self,
        site: TrackSite<'_>,
        process: &str,
        key: &str,
        method: Method,
        url: &str,
    ) -> OpId {
        let value = to_value(&SubmitInvoke {
            method: method.as_str().to_string(),
            url: url.to_string(),
            scenario: site.scenario.to_string(),
            step: site.step,
        });
        let draft = Draft {
            process,
            kind: OpType::Invoke,
            f: OpFn::Submit,
            test: site.test,
            key,
            value,
        };
        let record = self.redacted(draft);
        let mut inner = self.lock();
        let op = self.append(&mut inner, record);
        inner.pending.insert(
            op,
            PendingSubmit {
                test: site.test.to_string(),
                key: key.to_string(),
                process: process.to_string(),
                scenario: site.scenario.to_string(),
                step: site.step,
            },
        );
        op
    }

    /// Record how it ended, and register the key for settle with its rendered read request (or
    /// why none could be rendered) and, for an indeterminate submit, the request to replay.
    ///
    /// An `op` that is not a pending submit (unknown, or already completed) is ignored with a
    /// warning: every invoke gets exactly one completion.
    pub fn submit_complete(
        &self,
        op: OpId,
        outcome: SubmitOutcome,
        read: KeyRead,
        replay: Option<ReplayRequest>,
    ) {
        let Some(pending) = self.lock().pending.remove(&op) else {
            tracing::warn!(
                op,
                "ledger: completion of an unknown or completed submit ignored"
            );
            return;
        };
        let (kind, status, error) = match outcome {
            SubmitOutcome::Ok { status } => (OpType::Ok, Some(status), None),
            SubmitOutcome::Fail { status, error } => (OpType::Fail, status, Some(error)),
            SubmitOutcome::Info { status, error } => (OpType::Info, status, Some(error)),
        };
        let replay = replay.filter(|_| kind == OpType::Info);
        let value = to_value(&SubmitDone {
            status,
            error,
            read: read.as_ref().ok().map(|r| self.read_spec(r)),
            unresolved: read.as_ref().err().cloned(),
        });
        let record = self.redacted(Draft {
            process: &pending.process,
            kind,
            f: OpFn::Submit,
            test: &pending.test,
            key: &pending.key,
            value,
        });
        let tracked = Arc::new(TrackedKey {
            test: pending.test,
            key: pending.key,
            scenario: pending.scenario,
            step: pending.step,
            read,
            replay,
            settled: AtomicBool::new(false),
        });
        let mut inner = self.lock();
        self.append(&mut inner, record);
        let slot = (tracked.test.clone(), tracked.key.clone());
        match inner.key_slots.get(&slot).copied() {
            // A key submitted again is read with its latest request.
            Some(at) => inner.keys[at] = tracked,
            None => {
                let at = inner.keys.len();
                inner.keys.push(tracked);
                inner.key_slots.insert(slot, at);
            }
        }
    }

    /// A read request as the history shows it: credentials redacted.
    fn read_spec(&self, read: &ReadRequest) -> ReadSpec {
        ReadSpec {
            method: read.method.as_str().to_string(),
            url: read.url.clone(),
            headers: read
                .headers
                .iter()
                .map(|(name, value)| HeaderField {
                    name: name.clone(),
                    value: self.redactor.header_value(name, value),
                })
                .collect(),
        }
    }

    /// Record the invoke of a replay of `key`'s submit.
    pub(crate) fn replay_invoke(&self, key: &TrackedKey, replay: &ReplayRequest) -> OpId {
        let value = to_value(&ReadInvoke {
            method: replay.request.method.as_str().to_string(),
            url: replay.request.url.clone(),
        });
        self.record(Draft {
            process: SETTLE_PROCESS,
            kind: OpType::Invoke,
            f: OpFn::Replay,
            test: &key.test,
            key: &key.key,
            value,
        })
    }

    /// Record how a replay of `key` ended, and, when it gave a read request, read the key by it
    /// from now on.
    pub(crate) fn replay_complete(
        &self,
        key: &TrackedKey,
        status: Option<u16>,
        created: bool,
        read: KeyRead,
    ) {
        let kind = if read.is_ok() {
            OpType::Ok
        } else {
            OpType::Info
        };
        let value = to_value(&ReplayDone {
            status,
            created,
            error: read.as_ref().err().cloned(),
            read: read.as_ref().ok().map(|r| self.read_spec(r)),
        });
        self.record(Draft {
            process: SETTLE_PROCESS,
            kind,
            f: OpFn::Replay,
            test: &key.test,
            key: &key.key,
            value,
        });
        let Ok(read) = read else { return };
        let mut inner = self.lock();
        let slot = (key.test.clone(), key.key.clone());
        if let Some(&at) = inner.key_slots.get(&slot) {
            inner.keys[at] = Arc::new(key.read_by(read));
        }
    }

    /// Number of keys tracked so far (all tests): distinct keys whose submit was invoked.
    pub fn tracked(&self) -> usize {
        self.lock().checker.keys()
    }

    /// The log of SSE streams, which the stream checker reads after settle.
    pub fn streams(&self) -> &crate::ledger::streams::StreamLog {
        &self.streams
    }

    /// Flush the history to disk (called by the engine after each phase). Once a write has
    /// failed the file is incomplete, so every later flush reports that first error again.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut inner = self.lock();
        if let Some(error) = &inner.write_error {
            return Err(std::io::Error::new(
                error.kind(),
                format!("{}: an earlier write failed: {error}", self.path.display()),
            ));
        }
        let flushed = inner
            .writer
            .flush()
            .and_then(|()| inner.writer.get_ref().sync_data());
        if let Err(error) = &flushed {
            self.stop.write_failed(&self.path, error);
        }
        flushed
    }

    /// Milliseconds since the ledger was created: the clock every record is stamped on.
    pub fn clock_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    /// The path of `history.jsonl`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plan the ledger tracks work for.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Every record written so far, read back from `history.jsonl` after a flush (the ledger
    /// does not keep records in memory). An I/O error is logged and gives the records that
    /// could be read, possibly none; [`Ledger::summaries`] does not depend on the file.
    pub fn records(&self) -> Vec<Record> {
        if let Err(error) = self.flush() {
            tracing::warn!(%error, "ledger: flushing the history failed");
        }
        match read_history(&self.path) {
            Ok((records, warnings)) => {
                for warning in warnings {
                    tracing::warn!("ledger: {warning}");
                }
                records
            }
            Err(error) => {
                tracing::warn!(%error, path = %self.path.display(), "ledger: reading the history failed");
                Vec::new()
            }
        }
    }

    /// The classification of every test's keys so far: the same answer as
    /// [`crate::ledger::checker::classify`] over [`Ledger::records`], computed from memory.
    pub fn summaries(&self) -> BTreeMap<String, LedgerSummary> {
        self.lock().checker.finish()
    }

    /// The keys registered for settle, in registration order.
    pub(crate) fn tracked_keys(&self) -> Vec<Arc<TrackedKey>> {
        self.lock().keys.clone()
    }

    fn record(&self, draft: Draft<'_>) -> OpId {
        let record = self.redacted(draft);
        let mut inner = self.lock();
        self.append(&mut inner, record)
    }

    /// Redact every string of a draft (outside the lock).
    fn redacted(&self, draft: Draft<'_>) -> Record {
        let mut value = draft.value;
        self.redactor.redact_json(&mut value);
        Record {
            index: 0,
            time_ns: 0,
            process: self.redactor.redact(draft.process).into_owned(),
            kind: draft.kind,
            f: draft.f,
            test: self.redactor.redact(draft.test).into_owned(),
            key: self.redactor.redact(draft.key).into_owned(),
            value,
        }
    }

    /// Number, stamp, write and fold one record. Called with the lock held.
    fn append(&self, inner: &mut Inner, mut record: Record) -> OpId {
        record.index = inner.next_index;
        inner.next_index += 1;
        record.time_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let written = record
            .to_line()
            .map_err(std::io::Error::from)
            .and_then(|line| {
                inner.writer.write_all(line.as_bytes())?;
                inner.writer.write_all(b"\n")
            });
        if let Err(error) = written
            && inner.write_error.is_none()
        {
            self.stop.write_failed(&self.path, &error);
            inner.write_error = Some(error);
        }
        inner.checker.observe(&record);
        record.index
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while appending leaves the state consistent enough to keep recording.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `process` of every settle operation.
pub const SETTLE_PROCESS: &str = "settle";

fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
