//! Always undo: a worker of the testbed stack is frozen by a pause fault (the exec driver sends
//! SIGSTOP to its pid). SIGINT to shakedown reverts it before exiting; after a SIGKILL of
//! shakedown, `shakedown reconcile` resumes it, and a second reconcile changes nothing. The
//! journal shows intent, applied, reverted, confirmed either way.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{journal_events, proc_state};
use crate::run::{finish, report_json, shakedown, spawn_run, write_plan};
use crate::support::stack::{Stack, StackOptions};
use crate::support::wait_for;

fn plan(api: &str, worker_pid: u32) -> String {
    format!(
        r#"
[plan]
name = "pause-revert"
limits = {{ duration = "5m", requests = 1000000 }}

[targets.api]
url = "{api}"
health = "GET /health"

[targets.worker]
control = {{ driver = "exec", pause = "kill -STOP {worker_pid}", resume = "kill -CONT {worker_pid}", timeout = "5s" }}

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}, {{ think = "20ms" }}]

[[faults]]
id = "P1"
name = "Pause a worker for a long time"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "2m" }} }} }}
timeline = [{{ at = "200ms", pause = "worker", for = "40s" }}]
recovery = {{ probe = "GET api:/health", healthy = 2, within = "60s" }}
"#
    )
}

/// Start `shakedown run` and wait until the pause is applied and the worker is frozen.
fn start_paused(dir: &Path, api: &str, worker_pid: u32) -> (Child, PathBuf) {
    let plan = write_plan(dir, &plan(api, worker_pid));
    let run_dir = dir.join("run");
    let child = shakedown()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&run_dir)
        .arg("--no-progress")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shakedown");
    wait_for(
        "the pause to be applied",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let events = std::fs::read_to_string(run_dir.join("faults.jsonl")).ok()?;
            events.contains("\"applied\"").then_some(())
        },
    );
    assert_eq!(proc_state(worker_pid), Some('T'), "the worker is frozen");
    (child, run_dir)
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let status = wait_for(
        "shakedown to exit",
        Duration::from_secs(90),
        Duration::from_millis(50),
        || child.try_wait().expect("wait"),
    );
    status.code()
}

#[test]
fn sigint_while_paused_resumes_the_worker_and_journals_the_revert() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let worker = stack.info.workers[0].pid;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, run_dir) = start_paused(dir.path(), stack.api(), worker);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(
        wait_exit(&mut child),
        Some(4),
        "an interrupted run is ABORTED"
    );
    let state = proc_state(worker);
    assert!(
        matches!(state, Some(s) if s != 'T'),
        "the worker runs again: {state:?}"
    );
    assert_eq!(
        journal_events(&run_dir, "P1#0"),
        ["intent", "applied", "reverted", "confirmed"]
    );
    let report = report_json(&run_dir);
    assert_eq!(report["verdict"], "ABORTED");
    assert!(report["checks"][0]["fault"]["faults"][0]["reverted"].is_string());
    drop(stack);
}

#[test]
fn sigkill_while_paused_then_reconcile_resumes_the_worker() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let worker = stack.info.workers[0].pid;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, run_dir) = start_paused(dir.path(), stack.api(), worker);
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(proc_state(worker), Some('T'), "nothing resumed it yet");

    let mut reconcile = shakedown();
    reconcile.arg("reconcile").arg(&run_dir);
    let out = finish(reconcile, Duration::from_secs(30));
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("P1#0"), "{}", out.stdout);
    let state = proc_state(worker);
    assert!(
        matches!(state, Some(s) if s != 'T'),
        "the worker runs again: {state:?}"
    );
    assert_eq!(
        journal_events(&run_dir, "P1#0"),
        ["intent", "applied", "reverted", "confirmed"]
    );

    // Idempotent: a second reconcile finds nothing left to undo.
    let mut again = shakedown();
    again.arg("reconcile").arg(&run_dir);
    let out = finish(again, Duration::from_secs(30));
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("nothing left to undo"),
        "{}",
        out.stdout
    );
    assert_eq!(journal_events(&run_dir, "P1#0").len(), 4);
    drop(stack);
}

#[test]
fn sigkill_while_paused_the_guard_resumes_the_worker_at_its_ttl() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let worker = stack.info.workers[0].pid;
    let dir = tempfile::tempdir().unwrap();
    // The same plan with a short pause: its TTL is enforced by the guard process, which outlives
    // a SIGKILLed shakedown; no reconcile is run here.
    let text = plan(stack.api(), worker).replace("for = \"40s\"", "for = \"2s\"");
    assert!(text.contains("for = \"2s\""));
    let plan_path = write_plan(dir.path(), &text);
    let run_dir = dir.path().join("run");
    let mut child = spawn_run(&plan_path, &run_dir, &[]);
    wait_for(
        "the pause to be applied",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || {
            let events = std::fs::read_to_string(run_dir.join("faults.jsonl")).ok()?;
            events.contains("\"applied\"").then_some(())
        },
    );
    child.kill().unwrap();
    let _ = child.wait();
    wait_for(
        "the guard to resume the worker",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || matches!(proc_state(worker), Some(s) if s != 'T').then_some(()),
    );
    drop(stack);
}
