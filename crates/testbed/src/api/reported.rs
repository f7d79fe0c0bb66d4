//! What reads report about completed runs, with the defects that change it:
//!
//! - `status-regresses` and `status-conflicts`: a completed run is reported `completed` once, and
//!   every later read of it (by id or by key) reports `running` (terminal is not final) or
//!   `failed` (one run ends two ways);
//! - `brief-regression`: a completed run reads as `running` from [`REGRESSION_START_MS`] until
//!   [`REGRESSION_END_MS`] after its completion time (its `updated_at`, set when it finished),
//!   and `completed` before and after. Stateless: it depends only on the clock.
//!
//! Without any of them reads are untouched and nothing is remembered.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::clock::now_ms_i64;
use crate::defects::{Defect, DefectSet};
use crate::run::{RunRecord, RunStatus, RunView};

/// `brief-regression`: reads this many milliseconds or more after completion say `running`...
pub const REGRESSION_START_MS: i64 = 300;
/// ...until this many milliseconds after completion (exclusive).
pub const REGRESSION_END_MS: i64 = 800;

/// Whether `brief-regression` reports a run completed at `completed_at` as `running` at `now`
/// (both epoch milliseconds): `now - completed_at` in `[300, 800)`.
pub fn briefly_regressed(completed_at: i64, now: i64) -> bool {
    (REGRESSION_START_MS..REGRESSION_END_MS).contains(&now.saturating_sub(completed_at))
}

/// What later reads of a run already reported `completed` say instead.
#[derive(Debug, Default)]
pub struct ReportedRuns {
    /// `Running` (`status-regresses`), `Failed` (`status-conflicts`), or none.
    later: Option<RunStatus>,
    /// Whether `brief-regression` is switched on.
    brief_regression: bool,
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
            brief_regression: defects.has(Defect::BriefRegression),
            completed: Mutex::new(HashSet::new()),
        }
    }

    /// The view a read of `run` reports now.
    pub fn report(&self, run: &RunRecord, bucket: &str) -> RunView {
        self.report_at(run, bucket, now_ms_i64())
    }

    /// The view a read of `run` reports at `now` (epoch milliseconds).
    fn report_at(&self, run: &RunRecord, bucket: &str, now: i64) -> RunView {
        let mut view = run.view(bucket);
        if self.brief_regression
            && view.status == RunStatus::Completed
            && briefly_regressed(run.updated_at, now)
        {
            view.status = RunStatus::Running;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunKind;

    fn completed_at(updated_at: i64) -> RunRecord {
        RunRecord {
            id: "r".into(),
            key: "k".into(),
            kind: RunKind::Export,
            params: serde_json::json!({}),
            status: RunStatus::Completed,
            attempts: 1,
            completed_by: Some("w".into()),
            result_count: 1,
            created_at: 0,
            updated_at,
        }
    }

    #[test]
    fn brief_regression_reads_running_only_inside_the_window() {
        let run = completed_at(10_000);
        let statuses = |reported: &ReportedRuns| -> Vec<RunStatus> {
            [0, 299, 300, 550, 799, 800, 5_000]
                .map(|after| reported.report_at(&run, "b", 10_000 + after).status)
                .to_vec()
        };
        let defective = ReportedRuns::new(&DefectSet::new([Defect::BriefRegression]));
        use RunStatus::{Completed as C, Running as R};
        assert_eq!(statuses(&defective), [C, C, R, R, R, C, C]);
        let clean = ReportedRuns::new(&DefectSet::default());
        assert_eq!(statuses(&clean), [C; 7]);
        let mut queued = completed_at(10_000);
        queued.status = RunStatus::Queued;
        assert_eq!(
            defective.report_at(&queued, "b", 10_500).status,
            RunStatus::Queued
        );
    }
}
