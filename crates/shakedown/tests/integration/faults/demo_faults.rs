//! The demo's C1 catches the defects it exists for: with `stuck-on-restart` the runs the killed
//! worker held are never re-claimed, and with `duplicate-results` a completion is recorded twice.
//! Each run ends NO-GO on C1 with the failing count and example keys in the report.

use std::time::Duration;

use super::check;
use crate::run::{finish, report_json, shakedown};

fn demo_c1(defect: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut command = shakedown();
    command
        .args([
            "demo",
            "--no-progress",
            "--only",
            "C1",
            "--defect",
            defect,
            "--out",
        ])
        .arg(&run);
    let out = finish(command, Duration::from_secs(180));
    assert_eq!(
        out.code, 1,
        "NO-GO\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    report_json(&run)
}

fn assert_c1_fails_on(report: &serde_json::Value, class: &str, threshold: &str) {
    assert_eq!(report["verdict"], "NO-GO");
    let c1 = check(report, "C1");
    assert_eq!(c1["status"], "FAIL", "{c1}");
    assert!(c1["reason"].as_str().unwrap().contains(threshold), "{c1}");
    let count = c1["ledger"]["counts"][class].as_u64().unwrap();
    assert!(count > 0, "{class} = {count}");
    let examples = c1["ledger"]["examples"][class].as_array().unwrap();
    assert!(
        !examples.is_empty() && examples[0]["key"].is_string(),
        "{examples:?}"
    );
    // The faults themselves were real and proven.
    for f in c1["fault"]["faults"].as_array().unwrap() {
        assert_eq!(f["proven"], true, "{f}");
    }
}

#[test]
fn stuck_on_restart_is_no_go_on_c1_with_the_stuck_keys() {
    let report = demo_c1("stuck-on-restart");
    assert_c1_fails_on(&report, "stuck", "stuck == 0");
}

#[test]
fn duplicate_results_is_no_go_on_c1_with_the_duplicated_keys() {
    let report = demo_c1("duplicate-results");
    assert_c1_fails_on(&report, "duplicates", "duplicates == 0");
}
