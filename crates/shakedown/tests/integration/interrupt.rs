//! Ctrl-C in the middle of a run: the load stops, the report is still written, the verdict is
//! ABORTED and the exit code is 4.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::run::{health_plan, report_json, spawn_run, wait_exit, wait_until_running, write_plan};
use crate::support::stack::{Stack, StackOptions};

#[test]
fn sigint_mid_run_writes_the_report_and_exits_4() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &health_plan(
            "interrupt",
            stack.api(),
            r#"{ vus = { count = 4, duration = "3m" } }"#,
            r#""count(failures) == 0""#,
        ),
    );
    let run_dir = dir.path().join("run");
    let mut child = spawn_run(&plan, &run_dir, &[]);
    wait_until_running(&run_dir);
    std::thread::sleep(Duration::from_millis(700));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(30), "SIGINT");
    assert_eq!(code, Some(4), "ABORTED exits 4");
    let report = report_json(&run_dir);
    assert_eq!(report["verdict"], "ABORTED");
    assert_eq!(report["run"]["interrupted"], true);
    assert_eq!(report["run"]["phase"], "complete");
    let requests = report["checks"][0]["metrics"]["requests"].as_u64().unwrap();
    assert!(requests > 0, "partial figures are kept");
    assert_eq!(report["checks"][0]["status"], "SKIPPED");
    drop(stack);
}
