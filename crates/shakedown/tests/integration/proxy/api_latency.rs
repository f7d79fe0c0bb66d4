//! 300 ms of latency on the API's proxy for 10 s, under open-model load (a constant arrival rate)
//! through the proxy: the fault is proven by the proxy's counters, the report's per-second
//! timeline shows the latency shift by about the toxic's amount during the fault window and not
//! before it, and of two thresholds scoped to the fault window the loose one passes
//! (`p(95){window=during_fault} < 800ms`) and the tight one fails (`< 200ms`), failing the check.

use std::time::Duration;

use crate::faults::check;
use crate::run::{assert_schema_valid, report_json, run_plan, write_plan};
use crate::support::stack::{Stack, StackOptions};

/// Iterations started per second.
const RATE: u64 = 20;

fn plan(api: &str) -> String {
    let upstream = api.trim_start_matches("http://");
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
steps = [{{ name = "health", request = "GET via:/health" }}]

[[faults]]
id = "LAT"
load = {{ scenario = "health", executor = {{ constant_rate = {{ rate = {RATE}, duration = "13s" }} }} }}
timeline = [{{ at = "2s", toxic = {{ kind = "latency", latency = "300ms" }}, proxy = "api", for = "10s" }}]
recovery = {{ probe = "GET direct:/health", healthy = 2, within = "10s" }}
expect = [
  "p(95){{window=during_fault}} < 800ms",
  "p(95){{window=during_fault}} < 200ms",
  "p(50){{window=during_fault}} > 250ms",
  "p(50){{window=0s..2s}} < 100ms",
  "count(failures) == 0",
  "count(dropped) == 0",
]
"#
    )
}

/// The threshold of `check` written `expression`.
fn threshold<'a>(check: &'a serde_json::Value, expression: &str) -> &'a serde_json::Value {
    check["thresholds"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["expression"] == expression))
        .unwrap_or_else(|| panic!("no threshold `{expression}` in {check}"))
}

/// Seconds from `from` to `to`, both RFC 3339.
fn seconds_between(from: &serde_json::Value, to: &serde_json::Value) -> f64 {
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    (at(to) - at(from)).num_milliseconds() as f64 / 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn latency_on_the_api_proxy_for_10s_under_open_load_shifts_the_fault_window_and_gates_it() {
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
    let lat = check(&report, "LAT");
    assert_eq!(
        out.code, 1,
        "NO-GO: the tight threshold fails\n{lat}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(lat["status"], "FAIL", "{lat}");
    let reason = lat["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("p(95){window=during_fault} < 200ms"),
        "{reason}"
    );

    // The fault was applied through the proxy for its 10 s, and proven by its counters.
    let fault = &lat["fault"]["faults"][0];
    assert_eq!(fault["proven"], true, "{fault}");
    let proof = fault["proof"].as_str().unwrap_or_default();
    assert!(proof.contains("bytes delayed or held"), "{fault}");
    assert!(
        fault["action"]
            .as_str()
            .unwrap_or_default()
            .contains("for 10s"),
        "{fault}"
    );

    // The open model ran on schedule: every send started, none failed.
    let metrics = &lat["metrics"];
    assert!(metrics["open_model"].is_object(), "{metrics}");
    assert_eq!(threshold(lat, "count(dropped) == 0")["passed"], true);
    assert_eq!(threshold(lat, "count(failures) == 0")["passed"], true);

    // The loose threshold on the fault window passes, the tight one fails, on the same figure.
    let loose = threshold(lat, "p(95){window=during_fault} < 800ms");
    let tight = threshold(lat, "p(95){window=during_fault} < 200ms");
    assert_eq!(loose["passed"], true, "{loose}");
    assert_eq!(tight["passed"], false, "{tight}");
    assert_eq!(loose["measured"], tight["measured"]);
    assert_eq!(
        threshold(lat, "p(50){window=during_fault} > 250ms")["passed"],
        true
    );
    assert_eq!(
        threshold(lat, "p(50){window=0s..2s} < 100ms")["passed"],
        true
    );

    // The per-second timeline shows the shift: the seconds inside the fault window are about
    // 300 ms slower than the seconds before the injection.
    let offset = seconds_between(&report["run"]["started_at"], &lat["fault"]["started_at"]);
    let injected = offset + fault["injected_ms"].as_f64().expect("injected_ms") / 1000.0;
    let ends = injected + 10.0;
    let timeline = metrics["timeline"].as_array().expect("timeline");
    let p50s = |keep: &dyn Fn(f64) -> bool| -> Vec<f64> {
        timeline
            .iter()
            .filter(|w| w["requests"].as_u64().unwrap_or(0) > 0)
            .filter(|w| keep(w["second"].as_f64().unwrap_or(-1.0)))
            .filter_map(|w| w["p50"].as_f64())
            .collect()
    };
    let before = p50s(&|s| s + 1.0 <= injected);
    // Whole seconds inside the window, with a second's margin at each end.
    let during = p50s(&|s| s >= injected + 1.0 && s + 1.0 <= ends - 1.0);
    assert!(during.len() >= 7, "{during:?} from {timeline:?}");
    let (before, during) = (median(before), median(during));
    let shift = during - before;
    eprintln!(
        "LAT: p50 before the fault {before} ms, during {during} ms: shift {shift} ms; p95 during {}",
        loose["measured"]
    );
    assert!((250.0..600.0).contains(&shift), "shift {shift} ms");
    drop(stack);
}
