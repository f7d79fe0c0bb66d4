//! Safety rules stop or refuse for real: fault tests against `production` need
//! `--allow-production`, a kill file stops the run (ABORTED, exit 4, reason recorded), and a
//! stop condition that keeps failing aborts the run.

use std::time::Duration;

use super::check;
use crate::run::{report_json, run_plan, spawn_run, wait_exit, wait_until_running, write_plan};
use crate::support::stack::{Stack, StackOptions};

fn plan(api: &str, environment: &str, load_for: &str, safety: &str) -> String {
    format!(
        r#"
[plan]
name = "safety"
environment = "{environment}"
limits = {{ duration = "3m", requests = 1000000 }}

[targets.api]
url = "{api}"
health = "GET /health"
identity = {{ request = "GET /health", value = "$.boot_id" }}
control = {{ driver = "exec", restart = "true", timeout = "5s" }}

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}, {{ think = "20ms" }}]

[[faults]]
id = "F1"
name = "A no-op restart under load"
load = {{ scenario = "health", executor = {{ vus = {{ count = 2, duration = "{load_for}" }} }} }}
timeline = [{{ at = "200ms", restart = "api" }}]
recovery = {{ probe = "api", healthy = 2, within = "5s", every = "100ms" }}
expect = ["recovery < 10s"]
{safety}
"#
    )
}

#[test]
fn production_faults_need_allow_production() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &plan(stack.api(), "production", "1s", ""));

    let refused = dir.path().join("refused");
    let out = run_plan(&plan, &refused, &[], Duration::from_secs(60));
    assert_eq!(
        out.code, 3,
        "INCOMPLETE; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&refused);
    let f1 = check(&report, "F1");
    assert_eq!(f1["status"], "BLOCKED", "{f1}");
    assert!(
        f1["reason"]
            .as_str()
            .unwrap()
            .contains("--allow-production"),
        "{f1}"
    );
    let journal = std::fs::read_to_string(refused.join("faults.jsonl")).unwrap_or_default();
    assert!(
        !journal.contains("\"applied\""),
        "no fault was applied: {journal}"
    );

    let allowed = dir.path().join("allowed");
    let out = run_plan(
        &plan,
        &allowed,
        &["--allow-production"],
        Duration::from_secs(60),
    );
    let report = report_json(&allowed);
    let f1 = check(&report, "F1");
    assert_ne!(
        f1["status"], "BLOCKED",
        "the flag lets it run: {f1}; {}",
        out.stdout
    );
    // The no-op restart cannot be proven, so it is never a PASS.
    assert_eq!(f1["status"], "INCONCLUSIVE", "{f1}");
}

#[test]
fn a_kill_file_stops_the_run_and_says_so() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &plan(stack.api(), "staging", "2m", ""));
    let run = dir.path().join("run");
    let kill_file = dir.path().join("STOP");
    let kill_arg = kill_file.to_str().expect("utf-8 temp path").to_string();
    let mut child = spawn_run(&plan, &run, &["--kill-file", &kill_arg]);
    wait_until_running(&run);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&kill_file, b"stop").unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(30), "the kill file");
    assert_eq!(code, Some(4), "ABORTED");
    let report = report_json(&run);
    assert_eq!(report["verdict"], "ABORTED");
    let reason = report["run"]["stop_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("kill file"), "{reason}");
}

#[test]
fn a_failing_stop_condition_aborts_the_run() {
    let mut stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let safety =
        "[safety]\nstop = [{ request = \"GET api:/health\", every = \"100ms\", failures = 3 }]\n";
    let plan = write_plan(dir.path(), &plan(stack.api(), "staging", "2m", safety));
    let run = dir.path().join("run");
    let mut child = spawn_run(&plan, &run, &[]);
    wait_until_running(&run);
    // The API goes away for real: the stop condition's probe fails from now on.
    let answer = stack.command("kill api KILL");
    assert_eq!(answer["ok"], true, "{answer}");
    let code = wait_exit(
        &mut child,
        Duration::from_secs(30),
        "the stop condition failing",
    );
    assert_eq!(code, Some(4), "ABORTED");
    let report = report_json(&run);
    assert_eq!(report["verdict"], "ABORTED");
    let reason = report["run"]["stop_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("stop condition"), "{reason}");
}
