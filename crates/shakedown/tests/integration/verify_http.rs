//! The HTTP JSON verification: a request (after an optional login whose captures it reads) whose
//! response must meet its expectations. It passes on what the testbed answers, fails naming the
//! JSONPath and the value it saw when an expectation does not hold, and a login that fails means
//! nothing was observed (INCONCLUSIVE, never PASS).

use std::time::Duration;

use crate::run::{assert_schema_valid, check, report_json, run_plan_env, write_plan};
use crate::support::stack::{Stack, StackOptions};

const PASSWORD: &str = "pw-verify-http";

const PLAN: &str = r#"
[plan]
name = "verify-http"
limits = { duration = "1m", requests = 100 }

[secrets]
password = { env = "TESTBED_PASSWORD" }

[targets.api]
url = "${SHAKEDOWN_API_URL}"
health = "GET /health"

[[verify]]
id = "HEALTH"
http = { request = "GET api:/health", expect = { status = 200, json = { "$.status" = "ok" } } }

[[verify]]
id = "WRONG"
http = { request = "GET api:/health", expect = { json = { "$.status" = "degraded" } } }

[[verify]]
id = "RUNS"
http = { login = { request = "POST api:/api/v1/auth/login", json = { username = "v", password = "{{ secrets.password }}" }, capture = { token = "$.access_token" } }, request = "GET api:/api/v1/runs?key=none", headers = { Authorization = "Bearer {{ token }}" }, expect = { status = 200, json = { "$.runs" = [] } } }

[[verify]]
id = "BADLOGIN"
http = { login = { request = "POST api:/api/v1/auth/login", json = { username = "v", password = "wrong" }, capture = { token = "$.access_token" } }, request = "GET api:/api/v1/runs?key=none", headers = { Authorization = "Bearer {{ token }}" } }
"#;

#[test]
fn http_checks_pass_on_what_is_observed_and_fail_naming_the_value() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(0)
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(dir.path(), PLAN);
    let out = dir.path().join("run");
    let env = [
        ("SHAKEDOWN_API_URL", stack.api()),
        ("TESTBED_PASSWORD", PASSWORD),
    ];
    let outcome = run_plan_env(&plan, &out, &[], &env, Duration::from_secs(60));
    let report = report_json(&out);
    assert_schema_valid(&report);
    assert_eq!(outcome.code, 1, "NO-GO: {}", outcome.stdout);
    assert_eq!(check(&report, "HEALTH")["status"], "PASS");
    assert_eq!(
        check(&report, "RUNS")["status"],
        "PASS",
        "{}",
        check(&report, "RUNS")
    );
    let wrong = check(&report, "WRONG");
    assert_eq!(wrong["status"], "FAIL", "{wrong}");
    let reason = wrong["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("$.status: expected \"degraded\", got \"ok\""),
        "{reason}"
    );
    let bad = check(&report, "BADLOGIN");
    assert_eq!(bad["status"], "INCONCLUSIVE", "{bad}");
    assert!(
        bad["reason"]
            .as_str()
            .is_some_and(|r| r.contains("login") && r.contains("401")),
        "{bad}"
    );
}
