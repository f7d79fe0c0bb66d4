//! The verification phase: every `[[verify]]` check, in plan order, after settle and after the
//! load and fault checks are judged, while the system under test still runs. The probes observe
//! and judge each one (`probes`); this phase selects, gates and records them.

use tokio_util::sync::CancellationToken;

use super::{Run, RunOptions, unselected};
use crate::check::{CheckKind, TargetCheck};
use crate::probes::{VerifyEnv, judge, observe, tracked_jobs};
use crate::report::model::CheckReport;
use crate::status::Status;
use shakedown_plan::model::{Plan, Verification};

/// The report entry of a verification before it runs.
pub fn pending_verify_check(v: &Verification) -> CheckReport {
    CheckReport::not_run(&v.id, &v.name, CheckKind::Verify, v.required, "not run yet")
}

/// Run every verification and write the report after each. `records` is the settled history,
/// or None when the run was interrupted (then nothing is verified: a partial settle would make
/// "not finished yet" look like "missing").
pub async fn run_verifications(
    plan: &Plan,
    records: Option<&[crate::ledger::Record]>,
    run: &mut Run,
    options: &RunOptions,
    bound: &CancellationToken,
) -> anyhow::Result<()> {
    let first = plan.load_tests.len() + plan.faults.tests.len();
    let jobs = records.map(|r| tracked_jobs(r, plan)).unwrap_or_default();
    for (offset, verification) in plan.verifications.iter().enumerate() {
        let index = first + offset;
        if let Some(check) = gate(verification, options, &run.report.preflight, records, bound) {
            run.report.checks[index] = check;
            continue;
        }
        run.report.checks[index].reason = "running".into();
        run.write()?;
        let env = VerifyEnv {
            plan,
            jobs: &jobs,
            redactor: &run.redactor,
        };
        let section = tokio::select! {
            section = observe(verification, &env) => Some(section),
            () = bound.cancelled() => None,
        };
        let check = &mut run.report.checks[index];
        match section {
            Some(section) => judge(check, section),
            None => {
                check.status = Status::Skipped;
                check.reason = "not finished: the run was interrupted".into();
            }
        }
        if check.status == Status::Inconclusive && verification.oracle().is_some() {
            check.hint = Some(format!(
                "check that the oracle `{}` is reachable from this machine and its URL and \
                 credentials are right",
                verification.oracle().unwrap_or_default()
            ));
        }
        run.write()?;
    }
    Ok(())
}

fn gate(
    v: &Verification,
    options: &RunOptions,
    preflight: &[TargetCheck],
    records: Option<&[crate::ledger::Record]>,
    bound: &CancellationToken,
) -> Option<CheckReport> {
    let mut check = pending_verify_check(v);
    if let Some(reason) = unselected(&v.id, options) {
        check.status = Status::Skipped;
        check.reason = reason;
        return Some(check);
    }
    if bound.is_cancelled() || records.is_none() {
        check.status = Status::Skipped;
        check.reason = "not run: the run was interrupted before verification".into();
        return Some(check);
    }
    let oracle = v.oracle().map(crate::probes::oracle_entry);
    let blocked = preflight.iter().find(|p| {
        p.status == Status::Blocked
            && (v.target() == Some(p.target.as_str()) || oracle.as_deref() == Some(&p.target))
    })?;
    check.status = Status::Blocked;
    check.reason = format!("preflight: {}", blocked.reason);
    check.hint = blocked.hint.clone();
    Some(check)
}
