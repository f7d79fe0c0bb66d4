//! Checking a saved run directory again: `history.jsonl` through the same checker, judged by the
//! `ledger-spec.json` the run saved next to it. No plan, no environment, no secrets, no network.
//!
//! The history is streamed once: each record goes to the checker (memory bounded by the number
//! of keys) and, when asked, to a Jepsen export. A truncated last line is skipped with a warning
//! that names it; a bad line anywhere else, a missing file or a spec that cannot be read is an
//! [`OfflineError`] that names the file and the fix.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ledger::checker::Checker;
use crate::ledger::jepsen::JepsenWriter;
use crate::ledger::record::for_each_record;
use crate::ledger::spec::{LEDGER_SPEC, LedgerSpec, SpecError};
use crate::ledger::summary::LedgerSummary;
use crate::ledger::violations::{CheckOutcome, offline_outcome};

/// The history's file name in a run directory.
pub const HISTORY_FILE: &str = "history.jsonl";

/// What an offline check found.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineCheck {
    /// The history that was checked.
    pub history: PathBuf,
    /// Records read (complete lines).
    pub records: u64,
    /// Warnings, e.g. a truncated last line.
    pub warnings: Vec<String>,
    /// The classification per test id: the same as the run's `checks[].ledger`.
    pub tests: BTreeMap<String, LedgerSummary>,
    /// Clean, violations or inconclusive.
    pub outcome: CheckOutcome,
    /// The exit code that goes with the outcome.
    pub exit_code: u8,
}

/// Why a directory cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Not a directory.
    #[error(
        "{0} is not a directory: give the run directory that `shakedown run --out DIR` wrote \
         (it holds history.jsonl and ledger-spec.json)"
    )]
    NotADirectory(PathBuf),
    /// No history in it.
    #[error(
        "{0} does not exist: this is not a run directory, or its run stopped before any load \
         (give the directory that holds history.jsonl)"
    )]
    NoHistory(PathBuf),
    /// The history cannot be read.
    #[error(
        "cannot read the history: {0} (fix or remove that line; only a truncated last line is skipped)"
    )]
    History(std::io::Error),
    /// The spec cannot be read.
    #[error(
        "{0}; the checker needs the track rules the run saved in {LEDGER_SPEC} (a run by a \
         shakedown that did not write it must be run again)"
    )]
    Spec(#[from] SpecError),
    /// The Jepsen export cannot be written.
    #[error("cannot write the Jepsen history {path}: {source}")]
    Export {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Check `dir`'s history again; with `jepsen`, also write the history there in Jepsen's shape.
pub fn check_dir(dir: &Path, jepsen: Option<&Path>) -> Result<OfflineCheck, OfflineError> {
    if !dir.is_dir() {
        return Err(OfflineError::NotADirectory(dir.to_path_buf()));
    }
    let history = dir.join(HISTORY_FILE);
    if !history.is_file() {
        return Err(OfflineError::NoHistory(history));
    }
    let spec = LedgerSpec::load(&dir.join(LEDGER_SPEC))?;
    let mut checker = Checker::new(spec);
    let export_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OfflineError::Export { path, source }
    };
    let mut writer = match jepsen {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(export_error(path))?;
            Some(JepsenWriter::new(std::io::BufWriter::new(file)).map_err(export_error(path))?)
        }
        None => None,
    };
    let mut records = 0u64;
    let mut write_error = None;
    let warnings = for_each_record(&history, |record| {
        records += 1;
        checker.observe(&record);
        if let Some(w) = writer.as_mut()
            && write_error.is_none()
            && let Err(e) = w.write(&record)
        {
            write_error = Some(e);
        }
    })
    .map_err(OfflineError::History)?;
    if let (Some(path), Some(source)) = (jepsen, write_error) {
        return Err(OfflineError::Export {
            path: path.to_path_buf(),
            source,
        });
    }
    if let (Some(path), Some(w)) = (jepsen, writer) {
        let (_, mut out) = w.finish().map_err(export_error(path))?;
        out.flush().map_err(export_error(path))?;
    }
    let tests = checker.finish();
    let outcome = offline_outcome(&tests);
    Ok(OfflineCheck {
        history,
        records,
        warnings,
        tests,
        outcome,
        exit_code: outcome.exit_code(),
    })
}
