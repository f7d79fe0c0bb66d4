//! The SQL and Redis oracle probes (issue 7) against real servers started here: each check
//! passes on the healthy state, fails once the test changes that state (naming the key or the
//! row), and is BLOCKED at preflight (INCOMPLETE, never PASS) when its oracle cannot be reached. The SQL ledger is
//! checked against the testbed's own runs table on Postgres.

mod redis;
mod sql;
mod sql_ledger;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub use crate::run::check;
use crate::run::{Outcome, assert_schema_valid, report_json, run_plan, write_plan};

/// Run `plan` with the real binary into `dir/<name>`; return the outcome and its report.
pub fn run_checks(dir: &Path, name: &str, plan: &str) -> (Outcome, Value) {
    let plan = write_plan(dir, plan);
    let out = dir.join(name);
    let outcome = run_plan(&plan, &out, &[], Duration::from_secs(120));
    let report = report_json(&out);
    assert_schema_valid(&report);
    (outcome, report)
}

/// Assert that check `id` has `status` and a reason containing every one of `needles`.
pub fn assert_check(report: &Value, id: &str, status: &str, needles: &[&str]) {
    let check = check(report, id);
    let reason = check["reason"].as_str().unwrap_or_default();
    assert_eq!(check["status"], status, "{id}: {reason}");
    for needle in needles {
        assert!(
            reason.contains(needle),
            "{id}: {needle:?} not in {reason:?}"
        );
    }
}
