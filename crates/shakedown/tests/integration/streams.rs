//! Stream steps end to end against the testbed: the golden path over the agent WebSocket (clean;
//! with `ws-early-close`, whose failure must cluster under the close code 1000 right after
//! connect; and with `ws-duplicate-final`, whose repeated answer used to pass unseen while the
//! client waited for the close reply), and SSE readers whose resumes the stream check judges (clean, and with `sse-gap`,
//! which must fail naming the missing event ids). A small many-streams run holds 200 streams
//! with the check on and must report no false failure; the 2,000-stream soak is in `bench/`.

use std::path::Path;
use std::time::Duration;

use crate::run::{Outcome, assert_schema_valid, check, finish, report_json, shakedown, write_plan};
use crate::support::stack::{Stack, StackOptions};

const PASSWORD: &str = "pw-streams-test";

fn golden_path_plan() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/golden-path.toml");
    std::fs::read_to_string(path).expect("examples/golden-path.toml")
}

/// Run `plan` against `stack` with the testbed's address and password in the environment.
fn run_against(stack: &Stack, plan: &str, out: &Path, limit: Duration) -> Outcome {
    let dir = out.parent().expect("a parent directory");
    let path = write_plan(dir, plan);
    let mut command = shakedown();
    command
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(out)
        .arg("--no-progress")
        .env("SHAKEDOWN_API_URL", stack.api())
        .env("TESTBED_PASSWORD", PASSWORD);
    finish(command, limit)
}

fn stack(defects: &[&str]) -> Stack {
    Stack::start(
        StackOptions::new()
            .workers(2)
            .defects(defects)
            .env("TESTBED_PASSWORD", PASSWORD),
    )
}

#[test]
fn golden_path_passes_with_every_event_in_order_and_stream_figures() {
    let stack = stack(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_against(&stack, &golden_path_plan(), &out, Duration::from_secs(120));
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let report = report_json(&out);
    assert_schema_valid(&report);
    let golden = check(&report, "GOLDEN");
    assert_eq!(golden["status"], "PASS", "{golden}");
    let agent = &golden["metrics"]["streams"][0];
    assert_eq!(agent["step"], "agent");
    assert_eq!(agent["protocol"], "ws");
    assert_eq!(agent["streams"], 100);
    assert_eq!(agent["completed"], 100);
    assert_eq!(
        agent["events"], 600,
        "five events and the answer per message, and nothing more: {agent}"
    );
    assert_eq!(agent["time_to_final_event_ms"]["count"], 100);
    assert_eq!(agent["time_between_events_ms"]["count"], 500);
    let closes = agent["closes"].as_object().expect("closes");
    assert!(
        closes.keys().any(|k| k.contains("client sent close 1000")),
        "{closes:?}"
    );
}

/// The golden path against the testbed with `defect`: NO-GO, GOLDEN failed; its check.
fn golden_no_go(defect: &str) -> serde_json::Value {
    let stack = stack(&[defect]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_against(&stack, &golden_path_plan(), &out, Duration::from_secs(120));
    assert_eq!(o.code, 1, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let report = report_json(&out);
    assert_schema_valid(&report);
    assert_eq!(report["verdict"], "NO-GO");
    let golden = check(&report, "GOLDEN").clone();
    assert_eq!(golden["status"], "FAIL");
    golden
}

#[test]
fn ws_early_close_is_no_go_with_the_close_code_clustered() {
    let golden = golden_no_go("ws-early-close");
    let top = &golden["metrics"]["error_clusters"][0];
    let signature = top["signature"].as_str().unwrap();
    assert!(signature.contains("closed-early"), "{signature}");
    assert!(signature.contains("close 1000"), "{signature}");
    assert!(signature.contains("right after connect"), "{signature}");
    assert_eq!(top["count"], 100, "every attempt was hit: {top}");
    assert_eq!(
        golden["metrics"]["streams"][0]["failures"]["closed-early"],
        100
    );
}

#[test]
fn ws_duplicate_final_is_no_go_with_every_stream_a_duplicate() {
    let golden = golden_no_go("ws-duplicate-final");
    let top = &golden["metrics"]["error_clusters"][0];
    let signature = top["signature"].as_str().unwrap();
    assert!(
        signature.contains(
            "duplicate(answer): answer (event <n> of <n>) arrived a second time, after the last expected event"
        ),
        "{signature}"
    );
    assert_eq!(top["count"], 100, "every conversation was hit: {top}");
    let agent = &golden["metrics"]["streams"][0];
    assert_eq!(agent["failures"]["duplicate"], 100, "{agent}");
    assert_eq!(agent["completed"], 0, "{agent}");
    assert_eq!(agent["events"], 700, "the repeats are counted: {agent}");
}

/// Readers of fresh runs, each stream dropped once after two events and resumed.
const READERS: &str = r#"
[plan]
name = "sse-readers"
seed = 3
limits = { duration = "2m", requests = 2000 }

[secrets]
password = { env = "TESTBED_PASSWORD" }

[targets.api]
url = "${SHAKEDOWN_API_URL}"
health = "GET /health"

[scenarios.read]
steps = [
  { name = "login", request = "POST api:/api/v1/auth/login", json = { username = "r", password = "{{ secrets.password }}" }, capture = { token = "$.access_token" } },
  { name = "create", request = "POST api:/api/v1/runs", headers = { Authorization = "Bearer {{ token }}" }, json = { kind = "simulate", params = { steps = 4 } }, capture = { run_id = "$.id" }, expect = { status = [201] }, track = { key = "{{ uuid() }}", read = "GET api:/api/v1/runs?key={{ key }}", headers = { Authorization = "Bearer {{ token }}" }, items = "$.runs[*]", state = "$.status", terminal = ["completed", "failed"], success = ["completed"] } },
  { name = "events", sse = { request = "GET api:/api/v1/runs/{{ run_id }}/events", headers = { Authorization = "Bearer {{ token }}" }, events = [{ type = "run_started" }], terminal = { run_completed = "completed", run_failed = "failed" }, job = "{{ run_id }}", resume_after = 2, readers = READERS_PER_RUN, idle = "5s", deadline = "40s" } },
]

[[load]]
id = "S1"
scenario = "read"
executor = { rounds = { concurrency = RUNS, rounds = 1 } }
thresholds = ["count(failures) == 0", "lost == 0"]
"#;

fn readers_plan(runs: u32, readers: u32) -> String {
    READERS
        .replace("READERS_PER_RUN", &readers.to_string())
        .replace("RUNS", &runs.to_string())
}

#[test]
fn sse_gap_fails_the_stream_check_naming_the_missing_ids() {
    let stack = stack(&["sse-gap"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_against(&stack, &readers_plan(4, 2), &out, Duration::from_secs(120));
    assert_eq!(o.code, 1, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let report = report_json(&out);
    assert_schema_valid(&report);
    let s1 = check(&report, "S1");
    assert_eq!(s1["status"], "FAIL");
    let reason = s1["reason"].as_str().unwrap();
    assert!(reason.contains("missing event ids 3"), "{reason}");
    assert!(reason.contains("resume after 2 started at 4"), "{reason}");
    let streams = &s1["streams"];
    assert_eq!(streams["streams"], 8, "4 runs x 2 readers: {streams}");
    assert_eq!(streams["violations"]["gap"], 8);
    assert_eq!(streams["violations"]["duplicate"], 0);
    // The streams themselves completed: the gap is only visible to the check.
    assert_eq!(s1["metrics"]["failures"], 0);
    assert!(out.join("streams.jsonl").is_file());
}

#[test]
fn two_hundred_concurrent_streams_end_without_a_false_failure() {
    let stack = stack(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run_against(&stack, &readers_plan(4, 50), &out, Duration::from_secs(180));
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let report = report_json(&out);
    let s1 = check(&report, "S1");
    assert_eq!(s1["status"], "PASS", "{s1}");
    let streams = &s1["streams"];
    assert_eq!(streams["streams"], 200);
    assert_eq!(streams["completed"], 200);
    assert_eq!(streams["reconnects"], 200, "each stream resumed once");
    assert_eq!(
        streams["unverified"], 0,
        "every terminal state was compared"
    );
    let sse = &s1["metrics"]["streams"][0];
    assert_eq!(sse["completed"], 200);
    assert!(sse["time_to_final_event_ms"]["count"].as_u64().unwrap() == 200);
}
