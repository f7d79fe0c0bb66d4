//! 300 ms of latency on the API's proxy for 4 s, under closed load through the proxy: the fault
//! is proven by the proxy's counters, the latency during the fault window shifts by about the
//! toxic's amount, and thresholds scoped to the fault window pass (`< 800ms`) or fail
//! (`< 200ms`) on it.

use std::time::Duration;

use crate::faults::check;
use crate::run::{assert_schema_valid, report_json, run_plan, write_plan};
use crate::support::stack::{Stack, StackOptions};

fn plan(api: &str) -> String {
    let upstream = api.trim_start_matches("http://");
    let fault = |id: &str, bound: &str| {
        format!(
            r#"
[[faults]]
id = "{id}"
load = {{ scenario = "health", executor = {{ vus = {{ count = 2, duration = "7s" }} }} }}
timeline = [{{ at = "2s", toxic = {{ kind = "latency", latency = "300ms" }}, proxy = "api", for = "4s" }}]
recovery = {{ probe = "GET direct:/health", healthy = 2, within = "10s" }}
expect = ["p(95){{window=during_fault}} < {bound}", "p(50){{window=during_fault}} > 250ms", "count(failures) == 0"]
"#
        )
    };
    format!(
        r#"
[plan]
name = "api-latency"
limits = {{ duration = "2m", requests = 20000 }}

[proxies.api]
upstream = "{upstream}"

[targets.via]
url = "http://{{{{ proxies.api.addr }}}}"
health = "GET /health"

[targets.direct]
url = "{api}"
health = "GET /health"

[scenarios.health]
steps = [{{ name = "health", request = "GET via:/health" }}, {{ think = "50ms" }}]
{}{}"#,
        fault("LAT", "800ms"),
        fault("LATX", "200ms")
    )
}

#[test]
fn latency_on_the_api_proxy_shifts_the_fault_window_and_gates_it() {
    let stack = Stack::start(StackOptions::new().workers(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let out = run_plan(
        &write_plan(dir.path(), &plan(stack.api())),
        &run,
        &[],
        Duration::from_secs(120),
    );
    let report = report_json(&run);
    assert_schema_valid(&report);
    assert_eq!(
        out.code, 1,
        "NO-GO (LATX)\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );

    let lat = check(&report, "LAT");
    assert_eq!(lat["status"], "PASS", "{lat}");
    let fault = &lat["fault"]["faults"][0];
    assert_eq!(fault["proven"], true, "{fault}");
    assert!(
        fault["proof"]
            .as_str()
            .unwrap_or_default()
            .contains("bytes delayed or held"),
        "{fault}"
    );
    let measured = |c: &serde_json::Value, prefix: &str| {
        c["thresholds"]
            .as_array()
            .and_then(|t| {
                t.iter().find(|t| {
                    t["expression"]
                        .as_str()
                        .is_some_and(|e| e.starts_with(prefix))
                })
            })
            .and_then(|t| t["measured"].as_f64())
            .unwrap_or_else(|| panic!("no measured {prefix} in {c}"))
    };
    // The median during the fault is the toxic's 300 ms plus the service time.
    let p50 = measured(lat, "p(50)");
    eprintln!(
        "LAT: p50 during the fault {p50} ms, p95 {} ms; timeline p50 by second: {:?}",
        measured(lat, "p(95)"),
        lat["metrics"]["timeline"]
            .as_array()
            .map(|w| w.iter().map(|w| w["p50"].clone()).collect::<Vec<_>>())
    );
    assert!((300.0..600.0).contains(&p50), "p50 during the fault: {p50}");
    assert!(measured(lat, "p(95)") < 800.0);

    let latx = check(&report, "LATX");
    assert_eq!(latx["status"], "FAIL", "{latx}");
    assert!(
        latx["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("p(95){window=during_fault} < 200ms"),
        "{latx}"
    );
    drop(stack);
}
