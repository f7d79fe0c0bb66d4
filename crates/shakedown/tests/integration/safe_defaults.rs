//! No GO without an observation, on the plan a user writes first: a target without `health`
//! that nothing listens on is BLOCKED at preflight (INCOMPLETE, exit 3); a test whose every
//! request failed is NO-GO with no threshold at all, with only a latency threshold, and with a
//! threshold loose enough to allow every failure.

use std::time::Duration;

use crate::hostile::{Behaviour, RawServer, closed_port};
use crate::run::{report_json, run_plan, write_plan};

/// One load test of `GET /x` expecting 201 (the server answers 200: every request fails).
fn failing_plan(url: &str, thresholds: &str) -> String {
    format!(
        r#"
[plan]
name = "first-plan"
limits = {{ duration = "1m", requests = 100 }}

[targets.api]
url = "{url}"
connect_timeout = "2s"

[scenarios.get]
steps = [{{ name = "get", request = "GET api:/x", expect = {{ status = [201] }} }}]

[[load]]
id = "L1"
scenario = "get"
executor = {{ vus = {{ count = 1, iterations = 3 }} }}
{thresholds}
"#
    )
}

#[test]
fn an_unreachable_target_without_health_is_blocked_not_go() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let plan = write_plan(dir.path(), &failing_plan(&url, ""));
    let run = dir.path().join("run");
    let out = run_plan(&plan, &run, &[], Duration::from_secs(60));
    assert_eq!(out.code, 3, "INCOMPLETE; stdout:\n{}", out.stdout);
    let report = report_json(&run);
    assert_eq!(report["verdict"], "INCOMPLETE");
    let preflight = &report["preflight"][0];
    assert_eq!(preflight["status"], "BLOCKED", "{preflight}");
    let reason = preflight["reason"].as_str().unwrap();
    assert!(reason.contains("unreachable"), "{reason}");
    let check = &report["checks"][0];
    assert_eq!(check["status"], "BLOCKED");
    assert!(
        check["hint"].as_str().unwrap().contains(&url),
        "the hint names the address: {check}"
    );
    assert_eq!(report["checks"][0]["metrics"], serde_json::Value::Null);
}

/// Run `thresholds` against a server where every request fails; the report.
fn run_failing(thresholds: &str) -> (i32, serde_json::Value, String) {
    let server = RawServer::start(Behaviour::HugeBody { size: 16 });
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &failing_plan(&server.url(), thresholds));
    let run = dir.path().join("run");
    let out = run_plan(&plan, &run, &[], Duration::from_secs(60));
    let markdown = std::fs::read_to_string(run.join("report.md")).unwrap();
    (out.code, report_json(&run), markdown)
}

#[test]
fn every_request_failing_with_no_threshold_is_no_go_by_the_default() {
    let (code, report, markdown) = run_failing("");
    assert_eq!(code, 1, "NO-GO: {report}");
    assert_eq!(report["verdict"], "NO-GO");
    assert_eq!(
        report["preflight"][0]["status"], "PASS",
        "reached: {report}"
    );
    let check = &report["checks"][0];
    assert_eq!(check["status"], "FAIL");
    let default = &check["thresholds"][0];
    assert_eq!(default["expression"], "count(failures) == 0");
    assert_eq!(default["default"], true);
    assert_eq!(default["measured"], 3.0);
    assert!(
        markdown.contains("`count(failures) == 0` (default)"),
        "{markdown}"
    );
}

#[test]
fn a_latency_threshold_alone_does_not_pass_refused_work() {
    let (code, report, _) = run_failing(r#"thresholds = ["p(95) < 5s"]"#);
    assert_eq!(code, 1, "NO-GO: {report}");
    let thresholds = report["checks"][0]["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 2, "{thresholds:?}");
    assert_eq!(thresholds[0]["passed"], true, "the latency held");
    assert_eq!(thresholds[1]["default"], true);
    assert_eq!(thresholds[1]["passed"], false);
}

#[test]
fn a_check_where_nothing_succeeded_is_never_pass_whatever_its_thresholds() {
    let (code, report, _) = run_failing(r#"thresholds = ["rate(failures) <= 1"]"#);
    assert_eq!(code, 1, "NO-GO: {report}");
    let check = &report["checks"][0];
    let thresholds = check["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 1, "the plan's own wins: {thresholds:?}");
    assert_eq!(thresholds[0]["passed"], true);
    assert!(thresholds[0].get("default").is_none());
    assert_eq!(check["status"], "FAIL");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("no request succeeded: all 3 failed"),
        "{reason}"
    );
}

#[test]
fn validate_warns_about_a_test_without_thresholds_and_an_unread_var() {
    let dir = tempfile::tempdir().unwrap();
    let text = failing_plan("http://127.0.0.1:9", "").replace(
        "[targets.api]",
        "[vars]\nregion = \"eu\"\nunused = \"b\"\n\n[targets.api]",
    );
    let text = text.replace("GET api:/x", "GET api:/x?r={{ vars.region }}");
    let plan = write_plan(dir.path(), &text);
    let out = crate::run::shakedown()
        .arg("validate")
        .arg(&plan)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning stops nothing: {stderr}"
    );
    assert!(stdout.contains("(2 warnings above)"), "{stdout}");
    assert!(
        stderr.contains("warning: `vars.unused` is defined but nothing reads it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("vars.region"),
        "a read var is not warned about: {stderr}"
    );
    assert!(
        stderr.contains("warning: this load test has no `thresholds`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("plan.toml:8:1"),
        "with its position: {stderr}"
    );
}

#[test]
fn only_the_targets_of_the_selected_tests_hold_a_run_back() {
    let server = RawServer::start(Behaviour::HugeBody { size: 16 });
    let dir = tempfile::tempdir().unwrap();
    let down = format!("http://127.0.0.1:{}", closed_port());
    let text = format!(
        r#"
[plan]
name = "two-targets"
limits = {{ duration = "1m", requests = 100 }}

[targets.up]
url = "{}"

[targets.down]
url = "{down}"

[scenarios.up]
steps = [{{ request = "GET up:/x" }}]

[scenarios.down]
steps = [{{ request = "GET down:/x" }}]

[[load]]
id = "L1"
scenario = "up"
executor = {{ vus = {{ count = 1, iterations = 2 }} }}
thresholds = ["p(95) < 5s"]

[[load]]
id = "L2"
scenario = "down"
executor = {{ vus = {{ count = 1, iterations = 2 }} }}
thresholds = ["p(95) < 5s"]
"#,
        server.url()
    );
    let plan = write_plan(dir.path(), &text);
    let run = dir.path().join("run");
    let out = run_plan(&plan, &run, &["--only", "L1"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "GO:\n{}", out.stdout);
    let report = report_json(&run);
    let down = report["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "down")
        .unwrap();
    assert_eq!(down["status"], "SKIPPED", "{down}");
    let all = dir.path().join("all");
    let out = run_plan(&plan, &all, &[], Duration::from_secs(60));
    assert_eq!(
        out.code, 3,
        "L2's target is down: INCOMPLETE\n{}",
        out.stdout
    );
}

#[test]
fn a_fault_test_silent_on_failures_fails_on_failures_outside_the_fault() {
    // Every iteration reads /health (answered) and /x expecting 201 (the server answers 200):
    // failures before the fault and after the recovery, which no fault explains.
    let server = RawServer::start(Behaviour::HugeBody { size: 16 });
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[plan]
name = "fault-default"
limits = {{ duration = "1m", requests = 10000 }}

[targets.api]
url = "{}"
health = "GET /health"
control = {{ driver = "exec", restart = "true", timeout = "5s" }}

[scenarios.s]
steps = [
  {{ name = "health", request = "GET api:/health" }},
  {{ name = "x", request = "GET api:/x", expect = {{ status = [201] }} }},
  {{ think = "50ms" }},
]

[[faults]]
id = "C1"
load = {{ scenario = "s", executor = {{ vus = {{ count = 1, duration = "4s" }} }} }}
timeline = [{{ at = "1500ms", restart = "api" }}]
recovery = {{ probe = "GET api:/health", healthy = 2, within = "10s" }}
expect = ["recovery < 10s"]
"#,
        server.url()
    );
    let plan = write_plan(dir.path(), &text);
    let run = dir.path().join("run");
    let out = run_plan(&plan, &run, &[], Duration::from_secs(60));
    assert_eq!(out.code, 1, "NO-GO:\n{}\n{}", out.stdout, out.stderr);
    let check = &report_json(&run)["checks"][0];
    assert_eq!(check["status"], "FAIL", "{check}");
    let default = check["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["default"] == true)
        .unwrap_or_else(|| panic!("no default threshold: {check}"));
    assert_eq!(
        default["expression"],
        "count(failures){window=outside_fault} == 0"
    );
    assert!(
        default["measured"].as_f64().unwrap() > 0.0,
        "the failures outside the fault were counted: {default}"
    );
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("count(failures){window=outside_fault} == 0 (default)"),
        "{reason}"
    );
}
