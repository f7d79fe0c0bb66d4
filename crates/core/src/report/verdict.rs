//! How a report's verdict, exit code and reasons are decided (DESIGN section 2).
//!
//! The verdict comes from [`Verdict::decide`] over the statuses of the required checks, the
//! preflight targets (a target that failed preflight is a failed prerequisite of the whole run, so
//! it counts as a required BLOCKED check) and `run.interrupted`. Optional checks never change
//! it. A failed write of evidence (`run.write_failure`) makes it ABORTED whatever the checks
//! say: the evidence that would back any other verdict is incomplete. The reasons say why in
//! plain words, most important first: the failed write, failed checks, blocked checks, preflight
//! targets no check already explains, inconclusive checks, the interruption, and last, as notes,
//! optional checks that did not pass.

use crate::check::TargetCheck;
use crate::report::model::{CheckReport, Report};
use crate::status::{Status, Verdict};

impl Report {
    /// Set `verdict`, `exit_code` and `reasons` from the required checks, the preflight and
    /// `run.interrupted`, following DESIGN section 2. Reasons are plain words, most important
    /// first, e.g. `L1 FAIL: p(95) < 5000ms measured 6120.4ms`.
    pub fn decide(&mut self) {
        // Derived with the verdict, so that every write of the report carries it.
        crate::report::fault_windows::mark_clusters(self);
        let required = self.checks.iter().filter(|c| c.required);
        let statuses = required
            .clone()
            .map(|c| c.status)
            .chain(self.preflight.iter().filter_map(prerequisite_status));
        self.verdict = match &self.run.write_failure {
            Some(_) => Verdict::Aborted,
            None => Verdict::decide(statuses, self.run.interrupted),
        };
        self.exit_code = self.verdict.exit_code();

        let mut reasons = Vec::new();
        if let Some(failure) = &self.run.write_failure {
            reasons.push(format!(
                "aborted: a write of evidence failed, so no verdict can be backed by it: {failure}"
            ));
        }
        for status in [Status::Fail, Status::Blocked] {
            reasons.extend(
                required
                    .clone()
                    .filter(|c| c.status == status)
                    .map(check_line),
            );
        }
        reasons.extend(
            self.preflight
                .iter()
                .filter(|t| prerequisite_status(t).is_some() && !explained(t, &self.checks))
                .map(target_line),
        );
        reasons.extend(
            required
                .clone()
                .filter(|c| c.status == Status::Inconclusive)
                .map(check_line),
        );
        let stopped_by_the_write = match (&self.run.write_failure, &self.run.stop_reason) {
            (Some(failure), Some(why)) => why.contains(failure.as_str()),
            _ => false,
        };
        if self.run.interrupted && !stopped_by_the_write {
            reasons.push(match self.run.stop_reason.as_deref() {
                Some(why) if !why.trim().is_empty() => format!("run stopped early: {}", why.trim()),
                _ => "run stopped early before it finished".to_string(),
            });
        }
        if reasons.is_empty() {
            reasons.push(all_passed(&self.checks));
        }
        reasons.extend(
            self.checks
                .iter()
                .filter(|c| !c.required && matches!(c.status, Status::Fail | Status::Blocked))
                .map(|c| format!("{} (optional, not counted)", check_line(c))),
        );
        self.reasons = reasons;
    }
}

/// The status a preflight target adds to the verdict, if it failed: any outcome other than PASS
/// or SKIPPED is a failed prerequisite, which is BLOCKED (never FAIL: nothing was tested yet).
fn prerequisite_status(target: &TargetCheck) -> Option<Status> {
    match target.status {
        Status::Pass | Status::Skipped => None,
        Status::Fail | Status::Blocked => Some(Status::Blocked),
        Status::Inconclusive => Some(Status::Inconclusive),
    }
}

/// Whether a blocked check already carries this target's reason, so that a second line would
/// only repeat it.
fn explained(target: &TargetCheck, checks: &[CheckReport]) -> bool {
    let reason = target.reason.trim();
    !reason.is_empty()
        && checks
            .iter()
            .any(|c| c.status == Status::Blocked && c.reason.contains(reason))
}

/// `L1 FAIL: p(95) < 5000ms measured 6120.4ms`, `L2 BLOCKED: <reason>; <hint>`.
fn check_line(check: &CheckReport) -> String {
    let failed: Vec<String> = check
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.describe())
        .collect();
    let detail = if check.status == Status::Fail && !failed.is_empty() {
        failed.join("; ")
    } else {
        check.reason.trim().to_string()
    };
    line(
        &format!("{} {}", check.id, check.status),
        &detail,
        check.hint.as_deref(),
    )
}

/// `preflight: target ops BLOCKED: <reason>; <hint>`.
fn target_line(target: &TargetCheck) -> String {
    line(
        &format!("preflight: target {} {}", target.target, target.status),
        target.reason.trim(),
        target.hint.as_deref(),
    )
}

fn line(head: &str, detail: &str, hint: Option<&str>) -> String {
    let mut out = head.to_string();
    if !detail.is_empty() {
        out.push_str(": ");
        out.push_str(detail);
    }
    if let Some(hint) = hint.map(str::trim).filter(|h| !h.is_empty()) {
        out.push_str(if detail.is_empty() { ": " } else { "; " });
        out.push_str(hint);
    }
    out
}

/// The single reason of a clean run: how many required checks passed, and how many were skipped.
fn all_passed(checks: &[CheckReport]) -> String {
    let required = checks.iter().filter(|c| c.required);
    let passed = required
        .clone()
        .filter(|c| c.status == Status::Pass)
        .count();
    let skipped = required.filter(|c| c.status == Status::Skipped).count();
    match (passed, skipped) {
        (0, 0) => "no required check ran".to_string(),
        (p, 0) => format!("all {p} required checks passed"),
        (p, s) => format!("all {p} required checks that ran passed ({s} skipped)"),
    }
}

#[cfg(test)]
mod tests {
    use crate::check::ThresholdResult;
    use crate::report::fixtures::{check, report_with, target};
    use crate::status::{Status, Verdict};

    #[test]
    fn all_passed_is_go_with_exit_code_0() {
        let mut r = report_with(
            vec![target("api", Status::Pass)],
            vec![check("L1", Status::Pass), check("L2", Status::Pass)],
        );
        r.decide();
        assert_eq!(r.verdict, Verdict::Go);
        assert_eq!(r.exit_code, 0);
        assert_eq!(r.reasons, vec!["all 2 required checks passed"]);
    }

    #[test]
    fn skipped_required_checks_still_go_and_are_counted() {
        let mut r = report_with(
            vec![target("api", Status::Skipped)],
            vec![check("L1", Status::Pass), check("L2", Status::Skipped)],
        );
        r.decide();
        assert_eq!(r.verdict, Verdict::Go);
        assert_eq!(
            r.reasons,
            vec!["all 1 required checks that ran passed (1 skipped)"]
        );
    }

    #[test]
    fn a_failed_threshold_is_no_go_and_names_the_measurement() {
        let mut failing = check("L1", Status::Fail);
        failing.thresholds = vec![
            ThresholdResult {
                expression: "count(failures) == 0".into(),
                measured: Some(0.0),
                unit: "count".into(),
                passed: true,
                default: false,
            },
            ThresholdResult {
                expression: "p(95) < 5000ms".into(),
                measured: Some(6120.43),
                unit: "ms".into(),
                passed: false,
                default: false,
            },
        ];
        let mut blocked = check("L2", Status::Blocked);
        blocked.reason = "target ops rejected its credentials (401)".into();
        blocked.hint = Some("check secret ops_key (env TESTBED_OPS_KEY)".into());
        let mut r = report_with(vec![], vec![blocked, failing]);
        r.run.interrupted = true;
        r.run.stop_reason = Some("interrupted by Ctrl-C".into());
        r.decide();
        assert_eq!(r.verdict, Verdict::NoGo);
        assert_eq!(r.exit_code, 1);
        assert_eq!(
            r.reasons,
            vec![
                "L1 FAIL: p(95) < 5000ms measured 6120.4ms",
                "L2 BLOCKED: target ops rejected its credentials (401); check secret ops_key \
                 (env TESTBED_OPS_KEY)",
                "run stopped early: interrupted by Ctrl-C",
            ]
        );
    }

    #[test]
    fn a_fail_without_thresholds_uses_its_reason() {
        let mut failing = check("L1", Status::Fail);
        failing.reason = "2 of 60 tracked keys lost".into();
        let mut r = report_with(vec![], vec![failing]);
        r.decide();
        assert_eq!(r.reasons, vec!["L1 FAIL: 2 of 60 tracked keys lost"]);
    }

    #[test]
    fn blocked_or_inconclusive_is_incomplete_with_exit_code_3() {
        for status in [Status::Blocked, Status::Inconclusive] {
            let mut c = check("L2", status);
            c.reason = "why".into();
            let mut r = report_with(vec![], vec![check("L1", Status::Pass), c]);
            r.decide();
            assert_eq!(r.verdict, Verdict::Incomplete, "{status}");
            assert_eq!(r.exit_code, 3);
            assert_eq!(r.reasons, vec![format!("L2 {status}: why")]);
        }
    }

    #[test]
    fn a_blocked_preflight_target_is_incomplete_even_before_checks_run() {
        let mut ops = target("ops", Status::Blocked);
        ops.reason = "GET /api/v1/ops/queue returned 401".into();
        ops.hint = Some("check secret ops_key".into());
        let mut r = report_with(vec![target("api", Status::Pass), ops], vec![]);
        r.decide();
        assert_eq!(r.verdict, Verdict::Incomplete);
        assert_eq!(
            r.reasons,
            vec![
                "preflight: target ops BLOCKED: GET /api/v1/ops/queue returned 401; check \
                 secret ops_key"
            ]
        );
    }

    #[test]
    fn a_preflight_reason_already_carried_by_a_blocked_check_is_not_repeated() {
        let mut ops = target("ops", Status::Blocked);
        ops.reason = "GET /api/v1/ops/queue returned 401".into();
        let mut l2 = check("L2", Status::Blocked);
        l2.reason = "preflight: GET /api/v1/ops/queue returned 401".into();
        let mut r = report_with(vec![ops], vec![check("L1", Status::Pass), l2]);
        r.decide();
        assert_eq!(r.verdict, Verdict::Incomplete);
        assert_eq!(
            r.reasons,
            vec!["L2 BLOCKED: preflight: GET /api/v1/ops/queue returned 401"]
        );
    }

    #[test]
    fn an_interrupted_clean_run_is_aborted_with_exit_code_4() {
        let mut r = report_with(vec![], vec![check("L1", Status::Pass)]);
        r.run.interrupted = true;
        r.run.stop_reason = Some("interrupted by Ctrl-C".into());
        r.decide();
        assert_eq!(r.verdict, Verdict::Aborted);
        assert_eq!(r.exit_code, 4);
        assert_eq!(r.reasons, vec!["run stopped early: interrupted by Ctrl-C"]);

        r.run.stop_reason = None;
        r.decide();
        assert_eq!(r.reasons, vec!["run stopped early before it finished"]);
    }

    #[test]
    fn a_failed_write_of_evidence_is_aborted_whatever_the_checks_say() {
        let failure = "cannot write run/history.jsonl: No space left on device (os error 28); \
                       free space on the disk that holds the run directory, or choose another --out";
        for status in [Status::Pass, Status::Fail, Status::Inconclusive] {
            let mut r = report_with(vec![], vec![check("L1", status)]);
            r.run.interrupted = true;
            r.run.write_failure = Some(failure.into());
            r.run.stop_reason = Some(format!(
                "a write of evidence failed, so the run was stopped: {failure}"
            ));
            r.decide();
            assert_eq!(r.verdict, Verdict::Aborted, "{status}");
            assert_eq!(r.exit_code, 4);
            assert!(r.reasons[0].starts_with("aborted: a write of evidence failed"));
            assert!(r.reasons[0].ends_with(failure), "{:?}", r.reasons);
            assert!(
                !r.reasons.iter().any(|l| l.starts_with("run stopped early")),
                "the stop is not said twice: {:?}",
                r.reasons
            );
        }
        // A safety stop came first: both are said.
        let mut r = report_with(vec![], vec![check("L1", Status::Pass)]);
        r.run.interrupted = true;
        r.run.write_failure = Some(failure.into());
        r.run.stop_reason = Some("stopped by the kill file STOP".into());
        r.decide();
        assert_eq!(r.verdict, Verdict::Aborted);
        assert_eq!(r.reasons.len(), 2, "{:?}", r.reasons);
        assert_eq!(
            r.reasons[1],
            "run stopped early: stopped by the kill file STOP"
        );
    }

    #[test]
    fn optional_checks_do_not_change_the_verdict_but_are_noted() {
        let mut optional_fail = check("L9", Status::Fail);
        optional_fail.required = false;
        optional_fail.reason = "p(99) too high".into();
        let mut optional_blocked = check("L8", Status::Blocked);
        optional_blocked.required = false;
        let mut r = report_with(
            vec![],
            vec![check("L1", Status::Pass), optional_fail, optional_blocked],
        );
        r.decide();
        assert_eq!(r.verdict, Verdict::Go);
        assert_eq!(r.exit_code, 0);
        assert_eq!(
            r.reasons,
            vec![
                "all 1 required checks passed",
                "L9 FAIL: p(99) too high (optional, not counted)",
                "L8 BLOCKED (optional, not counted)",
            ]
        );
    }

    #[test]
    fn a_required_failure_beats_blocked_preflight_and_interruption() {
        let mut r = report_with(
            vec![target("ops", Status::Blocked)],
            vec![check("L1", Status::Fail), check("L2", Status::Inconclusive)],
        );
        r.run.interrupted = true;
        r.decide();
        assert_eq!(r.verdict, Verdict::NoGo);
        assert_eq!(r.reasons.len(), 4);
        assert!(r.reasons[0].starts_with("L1 FAIL"));
        assert!(r.reasons[1].starts_with("preflight: target ops BLOCKED"));
        assert!(r.reasons[2].starts_with("L2 INCONCLUSIVE"));
        assert!(r.reasons[3].starts_with("run stopped early"));
    }

    #[test]
    fn no_checks_and_a_clean_preflight_is_go_and_says_so() {
        let mut r = report_with(vec![target("api", Status::Pass)], vec![]);
        r.decide();
        assert_eq!(r.verdict, Verdict::Go);
        assert_eq!(r.reasons, vec!["no required check ran"]);
    }
}
