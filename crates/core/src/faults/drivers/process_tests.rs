//! The `process` driver on real processes: readiness by log line and by command, a process
//! that exits before it is ready, and signals that reach a whole process group.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::process::ProcessDriver;
use crate::faults::{Driver, DriverError};
use shakedown_plan::model::DriverSpec;

/// A driver for target `w` of a plan whose control is `control`.
fn driver(control: &str, logs: &Path) -> ProcessDriver {
    let text = format!(
        r#"
[plan]
name = "p"
limits = {{ duration = "1m", requests = 10 }}

[targets.api]
url = "http://127.0.0.1:1"

[targets.w]
control = {control}

[scenarios.s]
steps = [{{ request = "GET api:/" }}]
"#
    );
    let plan = shakedown_plan::compile_str(&text, Path::new("p.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let control = plan.targets["w"].control.clone().expect("a control");
    let DriverSpec::Process(spec) = control.driver else {
        panic!("not a process control");
    };
    ProcessDriver::new("w", spec, Arc::new(plan), logs.to_path_buf(), None)
}

fn pids_of(detail: &str) -> Option<i32> {
    let rest = detail.split("pid ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn a_log_line_on_stderr_makes_it_ready_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver(
        r#"{ driver = "process", command = ["sh", "-c", "echo booting; sleep 0.4; echo 'celery@host ready.' >&2; exec sleep 30"], ready = { log = "celery@\\S+ ready" } }"#,
        dir.path(),
    );
    let begun = Instant::now();
    d.start().await.expect("ready");
    assert!(
        begun.elapsed() >= Duration::from_millis(350),
        "ready at its first line, {:?} after the start",
        begun.elapsed()
    );
    assert_eq!(d.up(), Some(true));
    assert_eq!(d.up_now().await, Some(true));
    d.stop().await.expect("stops");
    assert_eq!(d.up(), Some(false));
}

#[tokio::test]
async fn a_process_that_exits_before_its_log_line_is_an_error_with_its_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver(
        r#"{ driver = "process", command = ["sh", "-c", "echo 'cannot connect to redis' >&2; exit 3"], ready = { log = "ready" } }"#,
        dir.path(),
    );
    let err = d.start().await.expect_err("never ready").to_string();
    assert!(err.contains("exited before it was ready"), "{err}");
    assert!(err.contains("waiting for a line matching `ready`"), "{err}");
    assert!(err.contains("code 3"), "{err}");
    assert!(err.contains("[stderr] cannot connect to redis"), "{err}");
}

#[tokio::test]
async fn a_log_line_that_never_comes_times_out_naming_the_expression() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver(
        r#"{ driver = "process", command = ["sh", "-c", "echo starting; exec sleep 30"], ready = { log = "^ready$", timeout = "300ms" } }"#,
        dir.path(),
    );
    let err = d.start().await.expect_err("never ready");
    let text = err.to_string();
    assert!(matches!(err, DriverError::Failed(_)), "{text}");
    assert!(text.contains("was not ready within 300ms"), "{text}");
    assert!(text.contains("[stdout] starting"), "{text}");
    d.stop().await.expect("the started process is stopped");
}

#[tokio::test]
async fn a_ready_command_is_asked_until_it_exits_zero_and_again_for_health() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("up");
    let d = driver(
        &format!(
            r#"{{ driver = "process", command = ["sh", "-c", "sleep 0.3; touch {m}; exec sleep 30"], ready = {{ command = "test -f {m}" }} }}"#,
            m = marker.display()
        ),
        dir.path(),
    );
    let begun = Instant::now();
    d.start().await.expect("ready");
    assert!(begun.elapsed() >= Duration::from_millis(250));
    assert_eq!(d.up_now().await, Some(true));
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(
        d.up_now().await,
        Some(false),
        "health asks the command again"
    );
    d.stop().await.expect("stops");
}

#[tokio::test]
async fn kill_reaches_the_children_of_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver(
        r#"{ driver = "process", command = ["sh", "-c", "sleep 30 & sleep 30 & echo up; wait"] }"#,
        dir.path(),
    );
    d.start().await.expect("ready");
    let pid = pids_of(&d.identity().await.unwrap().unwrap()).unwrap();
    let mut members = Vec::new();
    for _ in 0..100 {
        members = super::group::members(pid);
        if members.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(members.len(), 3, "{members:?}");
    let applied = d.kill("KILL").await.expect("killed");
    assert!(applied.self_proven, "{}", applied.detail);
    assert!(
        applied
            .detail
            .contains("group (3 processes) got SIGKILL and all exited"),
        "{}",
        applied.detail
    );
    for child in members {
        assert!(
            super::proc_state(child).is_none_or(|s| s == 'Z'),
            "pid {child} outlived the kill"
        );
    }
}

#[tokio::test]
async fn with_group_false_kill_reaches_the_main_process_and_reports_what_outlived_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver(
        r#"{ driver = "process", command = ["sh", "-c", "sleep 30 & echo up; wait"], group = false }"#,
        dir.path(),
    );
    d.start().await.expect("ready");
    let pid = pids_of(&d.identity().await.unwrap().unwrap()).unwrap();
    let applied = d.kill("KILL").await.expect("killed");
    assert!(
        applied
            .detail
            .contains("1 process of its group outlived it"),
        "{}",
        applied.detail
    );
    assert_eq!(super::group::members(pid).len(), 1);
    // A stop or restart does not start beside the leftovers: they are killed first.
    let stopped = d.stop().await.expect("stops");
    assert!(stopped.detail.contains("got SIGKILL"), "{}", stopped.detail);
    assert!(super::group::members(pid).is_empty());
}

#[tokio::test]
async fn stop_kills_a_group_that_ignores_sigterm_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver(
        r#"{ driver = "process", command = ["sh", "-c", "trap '' TERM; sleep 30 & echo up; wait"], grace = "300ms" }"#,
        dir.path(),
    );
    d.start().await.expect("ready");
    let pid = pids_of(&d.identity().await.unwrap().unwrap()).unwrap();
    let applied = d.stop().await.expect("stopped");
    assert!(applied.self_proven, "{}", applied.detail);
    assert!(
        applied.detail.contains("2 processes still ran after 300ms"),
        "{}",
        applied.detail
    );
    assert!(applied.detail.contains("all exited"), "{}", applied.detail);
    assert!(super::group::members(pid).is_empty());
}
