//! `[proxies.NAME]` in a plan, through the real binary: the load reaches the testbed through the
//! proxy (its address bound into the target's URL), and a proxy whose upstream is down at start
//! is a BLOCKED preflight entry that blocks the tests using it, with the reason.

use std::time::Duration;

use crate::run::{assert_schema_valid, report_json, run_plan, write_plan};
use crate::support::stack::{Stack, StackOptions};

fn plan(upstream: &str) -> String {
    format!(
        r#"
[plan]
name = "proxy-plan"
limits = {{ duration = "1m", requests = 1000 }}

[proxies.api]
upstream = "{upstream}"

[targets.via]
url = "http://{{{{ proxies.api.addr }}}}"
health = "GET /health"

[scenarios.health]
steps = [{{ name = "health", request = "GET via:/health" }}]

[[load]]
id = "L1"
name = "Health through the proxy"
scenario = "health"
executor = {{ rounds = {{ concurrency = 2, rounds = 5 }} }}
thresholds = ["count(failures) == 0", "count(requests) == 10"]
"#
    )
}

fn preflight_entry<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["preflight"]
        .as_array()
        .expect("preflight array")
        .iter()
        .find(|t| t["target"] == name)
        .unwrap_or_else(|| panic!("no preflight entry {name}: {report}"))
}

#[test]
fn the_load_goes_through_the_proxy_to_a_live_upstream() {
    let stack = Stack::start(StackOptions::new().workers(0));
    let upstream = stack.api().trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let out = run_plan(
        &write_plan(dir.path(), &plan(&upstream)),
        &run,
        &[],
        Duration::from_secs(60),
    );
    let report = report_json(&run);
    assert_schema_valid(&report);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let entry = preflight_entry(&report, "proxies.api");
    assert_eq!(entry["status"], "PASS", "{entry}");
    assert!(
        entry["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&upstream),
        "{entry}"
    );
    // The target's URL is the proxy's, not the upstream's.
    let via = preflight_entry(&report, "via");
    assert_eq!(via["status"], "PASS", "{via}");
    assert_ne!(via["url"].as_str(), Some(stack.api()), "{via}");
}

#[test]
fn an_upstream_that_is_down_at_start_blocks_the_tests_using_the_proxy() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let out = run_plan(
        &write_plan(dir.path(), &plan(&closed)),
        &run,
        &[],
        Duration::from_secs(60),
    );
    let report = report_json(&run);
    assert_schema_valid(&report);
    assert_eq!(
        out.code, 3,
        "INCOMPLETE\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let entry = preflight_entry(&report, "proxies.api");
    assert_eq!(entry["status"], "BLOCKED", "{entry}");
    let reason = entry["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "its upstream {closed} does not accept connections"
        )),
        "{reason}"
    );
    assert!(
        entry["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("[proxies.api]"),
        "{entry}"
    );
    let l1 = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "L1"))
        .expect("check L1");
    assert_eq!(l1["status"], "BLOCKED", "{l1}");
    assert!(
        l1["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("proxy `api`"),
        "{l1}"
    );
}
