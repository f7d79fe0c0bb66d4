//! The last step of every run: seal the run directory with `manifest.json`, after every other
//! file is final. It runs whether the run finished, was interrupted (which still ends with a
//! final report) or failed with an error, so that whatever evidence exists is sealed. When the
//! manifest itself cannot be written, the run is ABORTED like after any failed write of
//! evidence, and stderr says the directory is not sealed.

use std::path::Path;

use anyhow::Context as _;

use super::RunResult;
use crate::report::bundle::RunDir;
use crate::report::manifest::{self, SealInfo};
use crate::stop::RunStop;
use shakedown_plan::model::Plan;

/// Seal `out_dir` for the run that ended with `result`, and pass `result` on. A run whose
/// manifest could not be written (a failed write, reported to `stop`) ends ABORTED, and stderr
/// says so; a run that succeeded but cannot be sealed for another reason is an error (its
/// evidence could not be made trustworthy); a run that already failed keeps its own error, and a
/// failed seal is only logged.
pub(super) fn seal_run(
    plan: &Plan,
    out_dir: &Path,
    started_at: &str,
    result: anyhow::Result<RunResult>,
    stop: &RunStop,
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
            .map(|dir| dir.stopping(stop.clone()))
            .map_err(anyhow::Error::from)
            .and_then(|dir| manifest::seal(&dir, &info).map_err(anyhow::Error::from))
            .map(|_| ())
            .with_context(|| format!("cannot seal the run directory {}", out_dir.display()))
    } else {
        Ok(())
    };
    match (result, sealed) {
        (Ok(result), Ok(_)) => Ok(result),
        (Ok(mut result), Err(err)) if stop.write_failure().is_some() => {
            tracing::error!(
                "the run directory is not sealed: {err:#}; its files are the evidence that could \
                 be written, and `verify-bundle` will refuse it"
            );
            let run = &mut result.report.run;
            run.interrupted = true;
            run.write_failure = stop.write_failure();
            run.stop_reason = stop.reason();
            result.report.decide();
            Ok(result)
        }
        (Ok(_), Err(err)) => Err(err),
        (Err(err), Ok(_)) => Err(err),
        (Err(err), Err(seal_err)) => {
            tracing::warn!(error = %format!("{seal_err:#}"), "the run directory is not sealed");
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const PLAN: &str = r#"
[plan]
name = "sealed"
limits = { duration = "1m", requests = 10 }
"#;

    fn compile(extra: &str) -> shakedown_plan::model::Plan {
        shakedown_plan::compile_str(&format!("{PLAN}{extra}"), Path::new("p.toml"), &|_| None)
            .unwrap_or_else(|e| panic!("plan compiles: {e}"))
    }

    #[test]
    fn the_hostname_is_recorded_only_when_the_plan_allows_it() {
        assert!(!compile("").evidence.hostname);
        assert!(compile("\n[evidence]\nhostname = true\n").evidence.hostname);
        let bad = shakedown_plan::compile_str(
            &format!("{PLAN}\n[evidence]\nhost = true\n"),
            Path::new("p.toml"),
            &|_| None,
        );
        assert!(bad.is_err(), "unknown keys in [evidence] are rejected");
    }

    #[test]
    fn a_failed_run_is_sealed_and_keeps_its_own_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("report.json"), "{}").expect("write");
        let plan = compile("");
        let result = super::seal_run(
            &plan,
            tmp.path(),
            "2026-01-01T00:00:00.000Z",
            Err(anyhow::anyhow!("the load generator crashed")),
            &crate::stop::RunStop::unwatched(),
        );
        let err = result.expect_err("the run's error is kept");
        assert!(err.to_string().contains("crashed"));
        let v = crate::report::manifest::verify(tmp.path()).expect("verified");
        assert!(v.intact(), "{:?}", v.findings);
        let m = v.manifest.expect("manifest");
        assert_eq!(m.verdict, None);
        assert_eq!(m.started_at, "2026-01-01T00:00:00.000Z");
    }
}
