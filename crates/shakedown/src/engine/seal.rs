//! The last step of every run: seal the run directory with `manifest.json`, after every other
//! file is final. It runs whether the run finished, was interrupted (which still ends with a
//! final report) or failed with an error, so that whatever evidence exists is sealed.

use std::path::Path;

use anyhow::Context as _;

use super::RunResult;
use crate::plan::model::Plan;
use crate::report::bundle::RunDir;
use crate::report::manifest::{self, SealInfo};

/// Seal `out_dir` for the run that ended with `result`, and pass `result` on. A run that
/// succeeded but cannot be sealed is an error (its evidence could not be made trustworthy); a
/// run that already failed keeps its own error, and a failed seal is only logged.
pub(super) fn seal_run(
    plan: &Plan,
    out_dir: &Path,
    started_at: &str,
    result: anyhow::Result<RunResult>,
) -> anyhow::Result<RunResult> {
    let report = result.as_ref().ok().map(|r| &r.report);
    let info = SealInfo {
        run_id: report.map(|r| r.run.id.clone()),
        started_at: report.map_or_else(|| started_at.to_string(), |r| r.run.started_at.clone()),
        finished_at: report
            .and_then(|r| r.run.finished_at.clone())
            .unwrap_or_else(super::now_rfc3339),
        verdict: report.map(|r| r.verdict.to_string()),
        include_hostname: plan.evidence.hostname,
    };
    // No directory means the run failed before it wrote anything: there is nothing to seal.
    let sealed = if out_dir.is_dir() {
        RunDir::create(out_dir)
            .map_err(anyhow::Error::from)
            .and_then(|dir| manifest::seal(&dir, &info).map_err(anyhow::Error::from))
            .map(|_| ())
            .with_context(|| format!("cannot seal the run directory {}", out_dir.display()))
    } else {
        Ok(())
    };
    match (result, sealed) {
        (Ok(result), Ok(_)) => Ok(result),
        (Ok(_), Err(err)) => Err(err),
        (Err(err), Ok(_)) => Err(err),
        (Err(err), Err(seal_err)) => {
            tracing::warn!(error = %format!("{seal_err:#}"), "the run directory is not sealed");
            Err(err)
        }
    }
}
