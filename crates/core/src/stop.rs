//! Why a run stopped early, shared by everything that may stop it: the safety rules (a kill file,
//! a stop condition) and a write of evidence that failed (a full disk, a read-only mount). There
//! is one way to abort a run: record the reason (the first one wins) and cancel the run's token;
//! the engine's normal path then stops the load, reverts every applied fault and writes what it
//! still can, and the report says why.
//!
//! A failed write of evidence also makes the verdict ABORTED whatever the checks say: every
//! claim of a report must be backed by what the run recorded, and the record is incomplete.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// What to do about a write of evidence that failed, appended to its reason.
pub const WRITE_FAILURE_FIX: &str =
    "free space on the disk that holds the run directory, or choose another --out";

/// The run's stop: its reason, once something stopped it, and the token it cancels. Cheap to
/// clone; every clone shares both.
#[derive(Debug, Clone)]
pub struct RunStop {
    state: Arc<Mutex<StopState>>,
    run: CancellationToken,
}

#[derive(Debug, Default)]
struct StopState {
    /// The first reason the run was stopped.
    reason: Option<String>,
    /// The first write of evidence that failed, with its fix.
    write_failure: Option<String>,
}

impl RunStop {
    /// A stop that cancels `run`.
    pub fn new(run: CancellationToken) -> RunStop {
        RunStop {
            state: Arc::default(),
            run,
        }
    }

    /// A stop whose token nobody watches: for writers used outside a run (offline tools, tests),
    /// which still keep the first failure.
    pub fn unwatched() -> RunStop {
        RunStop::new(CancellationToken::new())
    }

    /// Stop the run because of a safety rule: record `reason` (unless an earlier one was) and
    /// cancel the run.
    pub fn stop(&self, reason: String) {
        self.with(|s| {
            s.reason.get_or_insert(reason);
        });
        self.run.cancel();
    }

    /// Stop the run because writing `file` failed with `error`. Only the first failure is kept
    /// and logged; every later one is the same disk failing again.
    pub fn write_failed(&self, file: &Path, error: &std::io::Error) {
        let reason = format!(
            "cannot write {}: {error}; {WRITE_FAILURE_FIX}",
            file.display()
        );
        let first = self.with(|s| {
            if s.write_failure.is_some() {
                return false;
            }
            s.write_failure = Some(reason.clone());
            s.reason.get_or_insert_with(|| {
                format!("a write of evidence failed, so the run was stopped: {reason}")
            });
            true
        });
        if first {
            tracing::error!("{reason}: stopping the run");
        }
        self.run.cancel();
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<String> {
        self.with(|s| s.reason.clone())
    }

    /// The first write of evidence that failed, with its fix, if one did.
    pub fn write_failure(&self) -> Option<String> {
        self.with(|s| s.write_failure.clone())
    }

    /// Whether the run was stopped.
    pub fn is_stopped(&self) -> bool {
        self.with(|s| s.reason.is_some())
    }

    fn with<T>(&self, f: impl FnOnce(&mut StopState) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            // A panic elsewhere must not hide why the run stopped.
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins_and_every_stop_cancels_the_run() {
        let run = CancellationToken::new();
        let stop = RunStop::new(run.clone());
        assert!(!stop.is_stopped());
        stop.stop("stopped by the kill file STOP".into());
        assert!(run.is_cancelled());
        let full = std::io::Error::from_raw_os_error(28);
        stop.write_failed(Path::new("run/history.jsonl"), &full);
        assert_eq!(
            stop.reason().as_deref(),
            Some("stopped by the kill file STOP")
        );
        let failure = stop.write_failure().expect("the write failure is kept too");
        assert!(failure.contains("run/history.jsonl"), "{failure}");
        assert!(failure.contains("os error 28"), "{failure}");
        assert!(failure.ends_with(WRITE_FAILURE_FIX), "{failure}");
    }

    #[test]
    fn a_write_failure_names_the_file_the_error_and_the_fix() {
        let run = CancellationToken::new();
        let stop = RunStop::new(run.clone());
        let full = std::io::Error::from_raw_os_error(28);
        stop.write_failed(Path::new("run/faults.jsonl"), &full);
        stop.write_failed(
            Path::new("run/report.json"),
            &std::io::Error::other("later"),
        );
        assert!(run.is_cancelled());
        let reason = stop.reason().expect("stopped");
        assert!(reason.contains("a write of evidence failed"), "{reason}");
        assert!(reason.contains("run/faults.jsonl"), "{reason}");
        assert!(
            !reason.contains("later"),
            "only the first failure: {reason}"
        );
        assert_eq!(
            stop.write_failure().as_deref(),
            reason.split_once(": ").map(|(_, rest)| rest)
        );
    }
}
