//! Always undo: a worker of the testbed stack is frozen by a pause fault (the exec driver sends
//! SIGSTOP to its pid). SIGINT to shakedown reverts it before exiting; after a SIGKILL of
//! shakedown, `shakedown reconcile` resumes it, and a second reconcile changes nothing. The
//! journal shows intent, applied, reverted, confirmed either way. When the interrupted run
//! sealed a pause it could not undo, the next run in the same directory undoes it and records
//! that outside the sealed bundle, which still verifies.

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
    super::wait_until_paused(&run_dir, worker_pid);
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

/// A plan with one short load test of the health endpoint: a run that only reconciles.
fn health_plan(api: &str) -> String {
    format!(
        r#"
[plan]
name = "after-the-interrupt"
limits = {{ duration = "1m", requests = 1000000 }}

[targets.api]
url = "{api}"
health = "GET /health"

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}]

[[load]]
id = "L1"
name = "Health"
scenario = "health"
executor = {{ vus = {{ count = 1, duration = "1s" }} }}
"#
    )
}

#[test]
fn a_run_that_reconciles_a_sealed_run_never_writes_into_its_bundle() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let worker = stack.info.workers[0].pid;
    let dir = tempfile::tempdir().unwrap();
    // The resume command fails once, so the interrupted run seals a journal that still says
    // the pause is applied; it works when the next run replays it.
    let marker = dir.path().join("resume-failed-once");
    let resume = format!(
        "test -e {m} && kill -CONT {worker} || {{ touch {m}; exit 1; }}",
        m = marker.display()
    );
    let text = plan(stack.api(), worker)
        .replace(&format!("kill -CONT {worker}\""), &format!("{resume}\""));
    assert!(text.contains("resume-failed-once"));
    let plan_path = write_plan(dir.path(), &text);
    let runs = dir.path().join("runs");
    let first = runs.join("first");
    let mut child = spawn_run(&plan_path, &first, &[]);
    wait_for(
        "the pause to be applied",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let events = std::fs::read_to_string(first.join("faults.jsonl")).ok()?;
            events.contains("\"applied\"").then_some(())
        },
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(
        wait_exit(&mut child),
        Some(4),
        "an interrupted run is ABORTED"
    );
    assert!(marker.exists(), "the run tried to resume the worker");
    assert_eq!(proc_state(worker), Some('T'), "its resume failed");
    assert_eq!(journal_events(&first, "P1#0"), ["intent", "applied"]);
    let journal = std::fs::read(first.join("faults.jsonl")).unwrap();
    assert_eq!(verify_bundle(&first).code, 0, "the first bundle is sealed");

    // The next run in the same parent directory reconciles the first one.
    let plan_path = write_plan(dir.path(), &health_plan(stack.api()));
    let second = runs.join("second");
    let mut run = shakedown();
    run.arg("run")
        .arg(&plan_path)
        .arg("--out")
        .arg(&second)
        .arg("--no-progress");
    let out = finish(run, Duration::from_secs(120));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("P1#0"), "{}", out.stderr);
    let state = proc_state(worker);
    assert!(
        matches!(state, Some(s) if s != 'T'),
        "the worker runs again: {state:?}"
    );

    // The first bundle was not touched; what was done is recorded outside it.
    assert_eq!(std::fs::read(first.join("faults.jsonl")).unwrap(), journal);
    let v = verify_bundle(&first);
    assert_eq!(v.code, 0, "stdout:\n{}\nstderr:\n{}", v.stdout, v.stderr);
    let outside = events_of(&runs.join("first.reconciled.jsonl"));
    assert_eq!(outside, ["P1#0 reverted", "P1#0 confirmed", " closed"]);
    // The run that reconciled lists it in its own (sealed) bundle, naming the earlier run.
    let witness = std::fs::read_to_string(second.join("reconciled.jsonl")).unwrap();
    assert_eq!(events_of(&second.join("reconciled.jsonl")), outside);
    assert!(witness.contains("first"), "{witness}");
    assert_eq!(verify_bundle(&second).code, 0);

    // Already reconciled: `reconcile` finds nothing left to undo and writes nothing.
    let mut again = shakedown();
    again.arg("reconcile").arg(&first);
    let out = finish(again, Duration::from_secs(30));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("nothing left to undo"),
        "{}",
        out.stdout
    );
    assert_eq!(events_of(&runs.join("first.reconciled.jsonl")).len(), 3);
    assert_eq!(verify_bundle(&first).code, 0);
    drop(stack);
}

/// `fault event` for each line of a journal-format file.
fn events_of(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| {
            format!(
                "{} {}",
                e["fault"].as_str().unwrap_or_default(),
                e["event"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn verify_bundle(dir: &Path) -> crate::run::Outcome {
    let mut command = shakedown();
    command.arg("verify-bundle").arg(dir);
    finish(command, Duration::from_secs(60))
}
