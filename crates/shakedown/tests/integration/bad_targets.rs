//! Bad targets end in the right status, fast, with a hint: an unreachable target and a target
//! that speaks garbage are BLOCKED at preflight (INCOMPLETE, exit 3); a body larger than the cap
//! fails the step (NO-GO, exit 1) without the run reading it all.

use std::time::Duration;

use crate::hostile::{Behaviour, RawServer, closed_port};
use crate::run::{report_json, run_plan, write_plan};

fn one_step_plan(url: &str, path: &str) -> String {
    format!(
        r#"
[plan]
name = "bad-target"
limits = {{ duration = "1m", requests = 100 }}

[targets.api]
url = "{url}"
health = "GET /health"
connect_timeout = "2s"
timeout = "5s"

[scenarios.get]
steps = [{{ name = "get", request = "GET api:{path}" }}]

[[load]]
id = "L1"
scenario = "get"
executor = {{ vus = {{ count = 1, iterations = 2 }} }}
thresholds = ["count(failures) == 0"]
"#
    )
}

#[test]
fn unreachable_target_is_blocked_at_preflight_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let plan = write_plan(dir.path(), &one_step_plan(&url, "/x"));
    let out = run_plan(&plan, &dir.path().join("run"), &[], Duration::from_secs(60));
    assert_eq!(out.code, 3, "INCOMPLETE; stdout:\n{}", out.stdout);
    let report = report_json(&dir.path().join("run"));
    assert_eq!(report["verdict"], "INCOMPLETE");
    assert_eq!(report["preflight"][0]["status"], "BLOCKED");
    let reason = report["preflight"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("unreachable"), "{reason}");
    let hint = report["checks"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("targets.api.url"), "{hint}");
    assert_eq!(report["checks"][0]["status"], "BLOCKED");
    assert!(out.stdout.contains("BLOCKED"), "{}", out.stdout);
}

#[test]
fn garbage_speaking_target_is_blocked_not_hung() {
    let server = RawServer::start(Behaviour::Garbage);
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &one_step_plan(&server.url(), "/x"));
    let out = run_plan(&plan, &dir.path().join("run"), &[], Duration::from_secs(60));
    assert_eq!(
        out.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&dir.path().join("run"));
    assert_eq!(report["preflight"][0]["status"], "BLOCKED");
    let reason = report["preflight"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("not answering"), "{reason}");
}

#[test]
fn body_larger_than_the_cap_fails_a_step_that_reads_it_and_is_counted_where_none_does() {
    // 256 MiB: far over the cap; reading it whole would show in the failure's timing and memory.
    let size: u64 = 256 << 20;
    let server = RawServer::start(Behaviour::HugeBody { size });
    let dir = tempfile::tempdir().unwrap();
    // A step whose check reads the body: it is held up to the cap, and over it is a failure.
    let reads = one_step_plan(&server.url(), "/big").replace(
        r#"request = "GET api:/big" }"#,
        r#"request = "GET api:/big", expect = { body_contains = ["x"] } }"#,
    );
    let plan = write_plan(dir.path(), &reads);
    let out = run_plan(&plan, &dir.path().join("run"), &[], Duration::from_secs(60));
    assert_eq!(
        out.code, 1,
        "NO-GO; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&dir.path().join("run"));
    let check = &report["checks"][0];
    assert_eq!(check["status"], "FAIL");
    assert_eq!(check["metrics"]["failures"], 2);
    let clusters = check["metrics"]["error_clusters"].to_string();
    assert!(clusters.contains("cap"), "{clusters}");
    // The same body where no check reads it: counted as it arrives and dropped, not a failure.
    let counted = tempfile::tempdir().unwrap();
    let plan = write_plan(counted.path(), &one_step_plan(&server.url(), "/big"));
    let out = run_plan(
        &plan,
        &counted.path().join("run"),
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code, 0,
        "GO; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&counted.path().join("run"));
    let metrics = &report["checks"][0]["metrics"];
    assert_eq!(metrics["failures"], 0, "{metrics}");
    assert_eq!(metrics["bytes_received"], 2 * size, "{metrics}");
}
