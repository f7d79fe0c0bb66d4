//! The fault journal, `faults.jsonl` in the run directory: an intent record, fsynced, before
//! every fault; then `applied` (or `failed`), `reverted` and `confirmed`. Process targets that
//! shakedown starts are journalled too (`started`, `stopped`), and a finished run ends with
//! `closed`. Whatever kills shakedown, the journal says what is left to undo and how: each
//! intent carries a revert recipe that another process ([`super::reconcile`],
//! [`super::guard`]) can replay. Lines are appended with one write each, so the run and its
//! guard can share the file.
//!
//! A sealed run directory (one with `manifest.json`) is never written again: once it is sealed,
//! what another process does to its faults goes to its outside record, `RUN.reconciled.jsonl`
//! next to the directory, in the same line format. [`read_run`] reads both, so the state of a
//! run's faults (and whether it was already reconciled) comes out the same either way.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::stop::RunStop;
use shakedown_plan::redact::Redactor;

/// The journal's file name in the run directory.
pub const FAULT_JOURNAL: &str = "faults.jsonl";

/// The file in a new run's directory that lists what its start-up reconcile did to earlier runs.
pub const RECONCILED: &str = "reconciled.jsonl";

/// Whether the run directory `dir` is sealed: its files are evidence and are never written again.
pub fn is_sealed(dir: &Path) -> bool {
    dir.join(crate::report::manifest::MANIFEST).is_file()
}

/// The outside record of the run directory `dir`: `RUN.reconciled.jsonl` in its parent, where
/// reconcile and the guard write once `dir` is sealed.
pub fn outside_record(dir: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match dir.file_name() {
        Some(name) => dir.with_file_name(format!("{}.{RECONCILED}", name.to_string_lossy())),
        None => dir.join(format!("..{RECONCILED}")),
    }
}

/// Where another process records what it did to `dir`'s faults: the journal itself while the
/// run is unsealed, its outside record once it is sealed.
pub fn record_path(dir: &Path) -> PathBuf {
    if is_sealed(dir) {
        outside_record(dir)
    } else {
        dir.join(FAULT_JOURNAL)
    }
}

/// The journal of the run directory `dir` followed by its outside record, if there is one.
pub fn read_run(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = read(&dir.join(FAULT_JOURNAL))?;
    match read(&outside_record(dir)) {
        Ok(outside) => entries.extend(outside),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(entries)
}

/// What a journal line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// About to apply a fault (fsynced first).
    Intent,
    /// The fault was applied.
    Applied,
    /// Applying it failed; nothing may have changed, but the revert is still attempted.
    Failed,
    /// The fault was undone.
    Reverted,
    /// The undo was checked to have taken effect.
    Confirmed,
    /// A process target was started by this run.
    Started,
    /// A process target started by this run was stopped.
    Stopped,
    /// A run opened the journal (it records the run's own process, so that a live run's
    /// journal is never reconciled under it).
    Opened,
    /// The run finished and left nothing to undo.
    Closed,
}

/// How to undo a fault from any process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revert {
    /// Nothing to undo, and why.
    Nothing {
        /// Why.
        why: String,
    },
    /// Send a signal to a process, if it is still the same process (same start time).
    Signal {
        /// The process id.
        pid: i32,
        /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
        start_time: Option<u64>,
        /// The signal's name without `SIG`.
        signal: String,
        /// Whether the signal goes to the process's whole group (a `process` target leads its
        /// own; absent in older journals, which signalled the process alone).
        #[serde(default)]
        group: bool,
    },
    /// Run a shell command.
    Command {
        /// The command (`sh -c`).
        command: String,
        /// Its timeout in milliseconds.
        timeout_ms: u64,
    },
    /// Done by the running shakedown through the driver (start a stopped process target);
    /// once shakedown is gone, so are the processes it supervised.
    InProcess {
        /// The driver verb that undoes the fault.
        verb: String,
    },
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the file, from 1 (per writer).
    pub seq: u64,
    /// When, RFC 3339.
    pub at: String,
    /// The fault (`C1#0`: test id and timeline index) or process (`process:api`).
    pub fault: String,
    /// What happened.
    pub event: Event,
    /// The target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The action in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The run that owns the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// How to undo it (on intents and `started`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<Revert>,
    /// When the fault must be undone at the latest, epoch milliseconds (its TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// What was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who wrote it: `shakedown`, `guard` or `reconcile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// On `opened`: the process id of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// On `opened`: that process's start time (clock ticks since boot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
}

impl Entry {
    /// A new entry for `fault`, stamped now; `seq` is set when it is appended.
    pub fn new(fault: &str, event: Event) -> Entry {
        Entry {
            seq: 0,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            fault: fault.to_string(),
            event,
            target: None,
            action: None,
            owner: None,
            revert: None,
            deadline_ms: None,
            detail: None,
            by: None,
            pid: None,
            start_time: None,
        }
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Entry {
        self.detail = Some(detail.into());
        self
    }

    /// With the writer's name.
    pub fn by(mut self, by: &str) -> Entry {
        self.by = Some(by.to_string());
        self
    }
}

/// An append-only journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    seq: AtomicU64,
    redactor: Redactor,
    /// Where a failed append stops the run (None outside a run).
    stop: Option<RunStop>,
}

impl Journal {
    /// Open (or create) the journal in `dir` for appending.
    pub fn open(dir: &Path, redactor: Redactor) -> std::io::Result<Journal> {
        let path = dir.join(FAULT_JOURNAL);
        let existing = read(&path).map(|e| e.len() as u64).unwrap_or(0);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
            seq: AtomicU64::new(existing),
            redactor,
            stop: None,
        })
    }

    /// Stop the run through `stop` when an append fails: the journal is evidence, and an
    /// unjournalled fault is one that another process could not undo.
    pub fn stopping(mut self, stop: RunStop) -> Journal {
        self.stop = Some(stop);
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `entry` as one line and fsync it before returning.
    pub fn append(&self, mut entry: Entry) -> std::io::Result<Entry> {
        entry.seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let line = format!("{}\n", self.redactor.json_line(&entry)?);
        let file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("the journal lock is poisoned"))?;
        let written = (&*file)
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data());
        if let (Err(error), Some(stop)) = (&written, &self.stop) {
            stop.write_failed(&self.path, error);
        }
        written.map(|()| entry)
    }
}

/// Append one entry to the journal (or record) at `path` from another process (guard,
/// reconcile), creating the file if needed.
pub fn append_to(path: &Path, mut entry: Entry) -> std::io::Result<()> {
    entry.seq = read(path).map(|e| e.len() as u64 + 1).unwrap_or(1);
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let line = format!(
        "{}\n",
        serde_json::to_string(&entry).map_err(std::io::Error::other)?
    );
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// Every entry of the journal at `path`. A torn last line (a crash mid-write) is skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// What the journal says about one fault or process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultState {
    /// Its intent (or `started`) record.
    pub intent: Option<Entry>,
    /// Whether it was applied.
    pub applied: bool,
    /// Whether applying it failed.
    pub failed: bool,
    /// Whether it was reverted (or the process stopped).
    pub reverted: bool,
    /// Whether the revert was confirmed.
    pub confirmed: bool,
}

impl FaultState {
    /// Whether something may still need undoing: an intent (applied, failed or in flight)
    /// without a confirmed revert.
    pub fn open(&self) -> bool {
        self.intent.is_some() && !(self.reverted && self.confirmed)
    }
}

/// Fold the journal into one state per fault, in first-seen order.
pub fn states(entries: &[Entry]) -> Vec<(String, FaultState)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, FaultState> = BTreeMap::new();
    for entry in entries {
        if matches!(entry.event, Event::Closed | Event::Opened) {
            continue;
        }
        let state = map.entry(entry.fault.clone()).or_insert_with(|| {
            order.push(entry.fault.clone());
            FaultState::default()
        });
        match entry.event {
            // A restarted process is a new process: its earlier stop does not count.
            Event::Intent | Event::Started => {
                *state = FaultState {
                    intent: Some(entry.clone()),
                    ..FaultState::default()
                }
            }
            Event::Applied => state.applied = true,
            Event::Failed => state.failed = true,
            Event::Reverted => state.reverted = true,
            Event::Confirmed => state.confirmed = true,
            Event::Stopped => {
                state.reverted = true;
                state.confirmed = true;
            }
            Event::Closed | Event::Opened => {}
        }
    }
    order
        .into_iter()
        .filter_map(|k| map.remove(&k).map(|s| (k, s)))
        .collect()
}

/// Whether the journal ends with `closed`: the run that wrote it finished cleanly.
pub fn is_closed(entries: &[Entry]) -> bool {
    entries.last().is_some_and(|e| e.event == Event::Closed)
}

/// Whether the run that last opened the journal is still running.
pub fn opener_alive(entries: &[Entry]) -> bool {
    entries
        .iter()
        .rev()
        .find(|e| e.event == Event::Opened)
        .and_then(|e| e.pid.map(|pid| (pid, e.start_time)))
        .is_some_and(|(pid, start)| {
            super::drivers::proc_start_time(pid).is_some_and(|now| Some(now) == start)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_fold_into_states() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), Redactor::default()).unwrap();
        let mut intent = Entry::new("C1#0", Event::Intent);
        intent.revert = Some(Revert::Signal {
            pid: 42,
            start_time: Some(7),
            signal: "CONT".into(),
            group: false,
        });
        journal.append(intent).unwrap();
        journal.append(Entry::new("C1#0", Event::Applied)).unwrap();
        journal.append(Entry::new("C1#1", Event::Intent)).unwrap();
        append_to(
            journal.path(),
            Entry::new("C1#0", Event::Reverted).by("guard"),
        )
        .unwrap();
        let entries = read(journal.path()).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[3].seq, 4);
        assert_eq!(entries[3].by.as_deref(), Some("guard"));
        let folded = states(&entries);
        assert_eq!(folded[0].0, "C1#0");
        assert!(folded[0].1.applied && folded[0].1.reverted && !folded[0].1.confirmed);
        assert!(folded[0].1.open());
        assert!(folded[1].1.open() && !folded[1].1.applied);
        assert!(!is_closed(&entries));
        journal
            .append(Entry::new("C1#0", Event::Confirmed))
            .unwrap();
        journal.append(Entry::new("", Event::Closed)).unwrap();
        let entries = read(journal.path()).unwrap();
        assert!(!states(&entries)[0].1.open());
        assert!(is_closed(&entries));
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FAULT_JOURNAL);
        let line = serde_json::to_string(&Entry::new("C1#0", Event::Intent)).unwrap();
        std::fs::write(&path, format!("{line}\n{{\"seq\": 2, \"at")).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }
}
