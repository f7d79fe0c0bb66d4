//! Verification probes: the `[[verify]]` checks that run after settle and read the system's
//! ground truth (DESIGN section 7): HTTP JSON assertions, SQL queries, Redis keys, artifacts
//! checked against their manifests, bucket isolation, storage latency, and canaries.
//!
//! Each probe returns a [`VerifySection`] of what it observed; [`judge`] turns that into a
//! status with the gating rule of every check ([`crate::check::gate`]): an observation that contradicts an expectation is a
//! FAIL; an oracle that could not be read, or a check that observed nothing, is INCONCLUSIVE;
//! only then is it a PASS. Nothing passes unobserved.

mod artifacts;
mod canary;
mod http;
mod isolation;
pub mod jobs;
mod object_store;
mod reach;
mod redis;
mod request;
mod sql;
mod store;
mod value;

use crate::check::Findings;
use crate::report::model::CheckReport;
use crate::report::verify_section::VerifySection;
use shakedown_plan::model::{Oracle, Plan, Verification, VerifyProbe};
use shakedown_plan::redact::Redactor;

pub use jobs::{TrackedJob, tracked_jobs};
pub use reach::{check_oracles, entry_name as oracle_entry};

/// What every probe may read.
#[derive(Debug, Clone, Copy)]
pub struct VerifyEnv<'a> {
    /// The plan (targets, secrets, vars, oracles).
    pub plan: &'a Plan,
    /// Every tracked job the ledger knows, with its final read.
    pub jobs: &'a [TrackedJob],
    /// For error texts that might quote a secret.
    pub redactor: &'a Redactor,
}

impl VerifyEnv<'_> {
    /// The oracle a probe names (the compiler checked that it exists).
    pub fn oracle(&self, name: &str) -> Option<&Oracle> {
        self.plan.oracles.get(name)
    }
}

/// An oracle's connection URL, rendered over the plan's secrets and vars. Err names the oracle,
/// never the URL (it may hold a password).
fn render_url(
    oracle: &Oracle,
    url: &shakedown_plan::template::Template,
    plan: &Plan,
) -> Result<String, String> {
    url.render(&crate::target_context::probe_context(plan))
        .map_err(|e| format!("the URL of oracle `{}`: {e}", oracle.name))
}

/// The message for a check given an oracle of another kind (the compiler prevents it).
fn wrong_kind(oracle: &Oracle, wanted: &str) -> String {
    format!(
        "oracle `{}` is a {} oracle; this check needs a {wanted} one",
        oracle.name,
        oracle.kind.name()
    )
}

/// Run one verification and return what it observed.
pub async fn observe(verification: &Verification, env: &VerifyEnv<'_>) -> VerifySection {
    let oracle = verification.oracle().and_then(|name| env.oracle(name));
    if let (Some(name), None) = (verification.oracle(), oracle) {
        let mut section = VerifySection::new(verification.probe.kind(), Some(name), "");
        section.error = Some(format!("the oracle `{name}` is not defined"));
        return section;
    }
    let mut section = match (&verification.probe, oracle) {
        (VerifyProbe::Http(p), _) => http::run(p, env).await,
        (VerifyProbe::Canary(p), _) => canary::run(p, env).await,
        (VerifyProbe::Sql(p), Some(o)) => sql::run(p, o, env).await,
        (VerifyProbe::Redis(p), Some(o)) => redis::run(p, o, env).await,
        (VerifyProbe::Artifacts(p), Some(o)) => artifacts::run(p, o, env).await,
        (VerifyProbe::Isolation(p), Some(o)) => isolation::run(p, o, env).await,
        (VerifyProbe::Store(p), Some(o)) => store::run(p, o, env).await,
        (probe, None) => {
            let mut s = VerifySection::new(probe.kind(), None, "");
            s.error = Some("this check needs an oracle".into());
            s
        }
    };
    if let Some(e) = &section.error {
        section.error = Some(env.redactor.redact(e).into_owned());
    }
    section
}

/// Decide a verification's status from what it observed.
pub fn judge(check: &mut CheckReport, section: VerifySection) {
    let failed: Vec<String> = section
        .assertions
        .iter()
        .filter(|a| !a.passed)
        .map(|a| match &a.observed {
            Some(observed) => format!("{} (observed {observed})", a.expectation),
            None => format!("{} (nothing observed)", a.expectation),
        })
        .collect();
    let mut failures = failed;
    if section.finding_count() > 0 {
        failures.push(findings_text(&section));
    }
    let undecided = match &section.error {
        Some(error) => Some(format!("could not observe: {error}")),
        None if section.assertions.is_empty() => {
            Some("nothing was observed, so nothing can pass".to_string())
        }
        None => None,
    };
    let held: Vec<&str> = section
        .assertions
        .iter()
        .map(|a| a.expectation.as_str())
        .collect();
    let findings = Findings {
        failures,
        undecided,
        hint: None,
    };
    let (status, reason, _) = findings.judge(format!("observed: {}", held.join("; ")));
    check.status = status;
    check.reason = reason;
    check.verify = Some(section);
}

/// "3 problems: missing 2 (e.g. runs/1/log.txt: absent), corrupt 1 (...)".
fn findings_text(section: &VerifySection) -> String {
    let mut classes: Vec<&str> = section.findings.iter().map(|f| f.class.as_str()).collect();
    classes.dedup();
    let mut seen = std::collections::BTreeSet::new();
    let parts: Vec<String> = classes
        .into_iter()
        .filter(|c| seen.insert(*c))
        .map(|class| {
            let n = section.counts.get(class).copied().unwrap_or(0);
            match section.findings.iter().find(|f| f.class == class) {
                Some(f) => format!("{class} {n} (e.g. {}: {})", f.subject, f.detail),
                None => format!("{class} {n}"),
            }
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckKind;
    use crate::status::Status;

    fn check() -> CheckReport {
        CheckReport::not_run("V", "V", CheckKind::Verify, true, "")
    }

    #[test]
    fn a_finding_fails_even_when_every_assertion_held() {
        let mut s = VerifySection::new("artifacts", Some("store"), "runs");
        s.assert("every package is complete", Some("49 of 50".into()), true);
        s.find(
            "corrupt",
            "runs/7/output.bin",
            "sha256 differs from the manifest",
        );
        let mut c = check();
        judge(&mut c, s);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.reason.contains("corrupt 1 (e.g. runs/7/output.bin"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn an_error_without_contradiction_is_inconclusive_never_pass() {
        let mut s = VerifySection::new("sql", Some("db"), "SELECT 1");
        s.error = Some("connection refused".into());
        let mut c = check();
        judge(&mut c, s);
        assert_eq!(c.status, Status::Inconclusive);
        let mut c = check();
        judge(&mut c, VerifySection::new("sql", Some("db"), "SELECT 1"));
        assert_eq!(c.status, Status::Inconclusive);
    }

    #[test]
    fn held_assertions_pass() {
        let mut s = VerifySection::new("redis", Some("cache"), "SCAN worker:*");
        s.assert("count >= 2", Some("2".into()), true);
        let mut c = check();
        judge(&mut c, s);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.reason, "observed: count >= 2");
    }
}
