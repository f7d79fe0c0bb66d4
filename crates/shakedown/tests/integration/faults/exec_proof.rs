//! Proof and bad input with the exec driver against the testbed stack: a "restart" that does
//! nothing leaves the identity unchanged (INCONCLUSIVE, never PASS); a driver command that hangs
//! is BLOCKED within its timeout, and the run goes on; a target that never comes back in time is
//! a FAIL that names the recovery deadline.

use std::time::Duration;

use super::check;
use crate::run::{assert_schema_valid, report_json, run_plan, write_plan};
use crate::support::stack::{Stack, StackOptions};

fn plan(api: &str, api_pid: u32) -> String {
    format!(
        r#"
[plan]
name = "exec-proof"
limits = {{ duration = "2m", requests = 5000 }}

[targets.api]
url = "{api}"
health = "GET /health"
identity = {{ request = "GET /health", value = "$.boot_id" }}
control = {{ driver = "exec", restart = "true", timeout = "5s" }}

[targets.hangs]
url = "{api}"
health = "GET /health"
control = {{ driver = "exec", restart = "sleep 30", timeout = "1s" }}

[targets.frozen]
url = "{api}"
health = "GET /health"
identity = {{ request = "GET /health", value = "$.boot_id" }}
control = {{ driver = "exec", restart = "kill -STOP {api_pid}; (sleep 4; kill -CONT {api_pid}) >/dev/null 2>&1 &", timeout = "5s" }}

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}, {{ think = "50ms" }}]

[[faults]]
id = "NOOP"
name = "An exec restart that does nothing"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "1s" }} }} }}
timeline = [{{ at = "200ms", restart = "api" }}]
recovery = {{ probe = "api", healthy = 2, within = "5s", every = "100ms" }}
expect = ["recovery < 10s"]

[[faults]]
id = "HANG"
name = "A driver command that hangs"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "1s" }} }} }}
timeline = [{{ at = "200ms", restart = "hangs" }}]

[[faults]]
id = "GONE"
name = "A target that is not back by the deadline"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "1s" }} }} }}
timeline = [{{ at = "200ms", restart = "frozen" }}]
recovery = {{ probe = "frozen", healthy = 2, within = "1s", every = "100ms" }}
"#
    )
}

#[test]
fn unproven_restart_is_inconclusive_hang_is_blocked_and_no_recovery_fails() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &plan(stack.api(), stack.info.api_pid));
    let run = dir.path().join("run");
    let out = run_plan(&plan, &run, &[], Duration::from_secs(120));
    let report = report_json(&run);
    assert_schema_valid(&report);
    // A FAIL among the checks makes the verdict NO-GO.
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );

    let noop = check(&report, "NOOP");
    assert_eq!(noop["kind"], "fault");
    assert_eq!(noop["status"], "INCONCLUSIVE", "{noop}");
    let fault = &noop["fault"]["faults"][0];
    assert_eq!(fault["proven"], false);
    assert_eq!(fault["identity_before"], fault["identity_after"]);
    assert!(fault["identity_before"].is_string(), "{fault}");
    assert!(
        fault["proof"].as_str().unwrap().contains("did not change"),
        "{fault}"
    );

    let hang = check(&report, "HANG");
    assert_eq!(hang["status"], "BLOCKED", "{hang}");
    assert!(
        hang["reason"]
            .as_str()
            .unwrap()
            .contains("did not finish within 1s"),
        "{hang}"
    );
    assert!(hang["hint"].is_string());

    let gone = check(&report, "GONE");
    assert_eq!(gone["status"], "FAIL", "{gone}");
    assert!(
        gone["reason"]
            .as_str()
            .unwrap()
            .contains("recovery deadline of 1s"),
        "{gone}"
    );
    drop(stack);
}
