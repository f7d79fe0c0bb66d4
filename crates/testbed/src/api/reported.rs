//! The `status-regresses` and `status-conflicts` defects: a completed run is reported
//! `completed` once, and every later read of it (by id or by key) reports `running` (terminal is
//! not final) or `failed` (one run ends two ways). Without either defect reads are untouched and
//! nothing is remembered.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::defects::{Defect, DefectSet};
use crate::run::{RunStatus, RunView};

/// What later reads of a run already reported `completed` say instead.
#[derive(Debug, Default)]
pub struct ReportedRuns {
    /// `Running` (`status-regresses`), `Failed` (`status-conflicts`), or none.
    later: Option<RunStatus>,
    /// The runs already reported `completed`.
    completed: Mutex<HashSet<String>>,
}

impl ReportedRuns {
    /// What reads report with these defects switched on.
    pub fn new(defects: &DefectSet) -> ReportedRuns {
        let later = if defects.has(Defect::StatusRegresses) {
            Some(RunStatus::Running)
        } else if defects.has(Defect::StatusConflicts) {
            Some(RunStatus::Failed)
        } else {
            None
        };
        ReportedRuns {
            later,
            completed: Mutex::new(HashSet::new()),
        }
    }

    /// The view a read reports.
    pub fn report(&self, mut view: RunView) -> RunView {
        let Some(later) = self.later else {
            return view;
        };
        if view.status == RunStatus::Completed {
            let mut completed = self
                .completed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !completed.insert(view.id.clone()) {
                view.status = later;
            }
        }
        view
    }
}
