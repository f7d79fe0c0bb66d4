//! Ctrl-C in the middle of a run: the load stops, the report is still written, the verdict is
//! ABORTED and the exit code is 4.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::run::{report_json, shakedown, write_plan};
use crate::support::stack::{Stack, StackOptions};

#[test]
fn sigint_mid_run_writes_the_report_and_exits_4() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &format!(
            r#"
[plan]
name = "interrupt"
limits = {{ duration = "5m", requests = 10000000 }}

[targets.api]
url = "{}"
health = "GET /health"

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}, {{ think = "5ms" }}]

[[load]]
id = "L1"
scenario = "health"
executor = {{ vus = {{ count = 4, duration = "3m" }} }}
thresholds = ["count(failures) == 0"]
"#,
            stack.api()
        ),
    );
    let run_dir = dir.path().join("run");
    let mut child = shakedown()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&run_dir)
        .arg("--no-progress")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the load test is under way: the report marks it running.
    let started = Instant::now();
    loop {
        let phase = std::fs::read_to_string(run_dir.join("report.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|r| r["checks"][0]["reason"].clone());
        if phase.is_some_and(|p| p == "running") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never reached load"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shakedown did not stop within 30s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(4), "ABORTED exits 4");
    let report = report_json(&run_dir);
    assert_eq!(report["verdict"], "ABORTED");
    assert_eq!(report["run"]["interrupted"], true);
    assert_eq!(report["run"]["phase"], "complete");
    let requests = report["checks"][0]["metrics"]["requests"].as_u64().unwrap();
    assert!(requests > 0, "partial figures are kept");
    assert_eq!(report["checks"][0]["status"], "SKIPPED");
    drop(stack);
}
