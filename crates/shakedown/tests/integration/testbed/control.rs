//! The stack's contract: its first line, the stdin control protocol with real signals, the API
//! coming back on the same port, and a clean stop on SIGTERM, EOF, or the death of the stack.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;

use super::start;
use crate::support::stack::{Stack, StackOptions};
use crate::support::{pid_alive, wait_for};

fn all_pids(stack: &mut Stack) -> Vec<u32> {
    let status = stack.command_ok("status");
    let mut pids = vec![status["api"]["pid"].as_u64().expect("api pid") as u32];
    for worker in status["workers"].as_array().expect("workers") {
        pids.push(worker["pid"].as_u64().expect("worker pid") as u32);
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commands_signal_real_processes() {
    let (mut stack, client) = start(StackOptions::new()).await;
    let info = stack.info.clone();
    assert!(info.api.starts_with("http://127.0.0.1:"), "{}", info.api);
    assert_eq!(info.workers.len(), 2);
    assert!(info.database.starts_with("sqlite://"));
    assert_eq!(info.bucket, "shakedown-artifacts");
    assert!(pid_alive(info.api_pid));

    let killed = stack.command_ok("kill api KILL");
    assert_eq!(killed["pid"], info.api_pid);
    assert_eq!(killed["exit"], "signal 9");
    let status = stack.command_ok("status");
    assert_eq!(status["api"]["alive"], false);
    assert!(client.http.get(client.url("/health")).send().await.is_err());

    let started = stack.command_ok("start api");
    assert_ne!(started["pid"], info.api_pid);
    let health = client.health().await;
    assert_eq!(health.status, StatusCode::OK, "same port after a restart");
    assert_eq!(health.body["boot_id"], started["boot_id"]);
    assert_ne!(health.body["boot_id"], info.api_boot_id.as_str());

    let worker = info.workers[1].pid;
    stack.command_ok("kill worker 1 STOP");
    wait_for(
        "worker 1 to be stopped",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{worker}/stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next();
            (state == Some('T')).then_some(())
        },
    );
    stack.command_ok("kill worker 1 CONT");
    let restarted = stack.command_ok("restart worker 1");
    assert_ne!(restarted["pid"], worker);
    assert!(!pid_alive(worker));

    let refused = stack.command("start worker 0");
    assert_eq!(refused["ok"], false, "{refused}");
    let unknown = stack.command("explode api");
    assert_eq!(unknown["ok"], false);
    assert!(
        unknown["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown command")
    );
    let missing = stack.command("kill worker 7 TERM");
    assert_eq!(missing["ok"], false);

    let pids = all_pids(&mut stack);
    stack.signal(Signal::SIGTERM);
    let status = stack
        .wait(Duration::from_secs(30))
        .expect("the stack exits on SIGTERM");
    assert!(status.success(), "{status}");
    for pid in pids {
        assert!(!pid_alive(pid), "child {pid} outlived the stack");
    }
    assert!(
        !info.data_dir.exists(),
        "the temporary data dir was not removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_exit_when_the_stack_is_killed() {
    let mut stack = Stack::start(StackOptions::new());
    let pids = all_pids(&mut stack);
    stack.signal(Signal::SIGKILL);
    stack.wait(Duration::from_secs(10)).expect("the stack died");
    for pid in pids {
        wait_for(
            &format!("child {pid} to exit after its parent died"),
            Duration::from_secs(15),
            Duration::from_millis(50),
            || (!pid_alive(pid)).then_some(()),
        );
    }
    let _ = std::fs::remove_dir_all(&stack.info.data_dir);
}

#[test]
fn eof_on_stdin_stops_the_stack_cleanly() {
    let mut stack = Stack::start(StackOptions::new().workers(1));
    let pids = all_pids(&mut stack);
    let status = stack.stop();
    assert!(status.success(), "{status}");
    for pid in pids {
        assert!(!pid_alive(pid), "child {pid} outlived the stack");
    }
}

#[test]
fn unknown_defect_is_an_error_listing_the_valid_ones() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["testbed", "stack", "--defect", "lose-everything"])
        .output()
        .expect("running shakedown");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lose-everything"), "{stderr}");
    for name in [
        "lose-acked",
        "duplicate-results",
        "stuck-on-restart",
        "ops-key-mismatch",
    ] {
        assert!(stderr.contains(name), "{stderr}");
    }
}

/// What became of 4 concurrent requests when the API got a signal: the statuses of those still
/// in flight at the signal (answered after it), and how many had been answered before it.
struct AcrossSignal {
    in_flight: Vec<Option<StatusCode>>,
    answered_before: usize,
}

/// Start 4 requests that the `slow-under-load` defect holds 400 ms per other request in flight,
/// send the API `signal` 300 ms later, and sort them by whether they finished before it.
async fn slow_requests_across(signal: &str) -> AcrossSignal {
    let options = StackOptions::new().workers(0).defect("slow-under-load");
    let (mut stack, client) = start(options).await;
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let reply = client
                    .http
                    .get(client.url("/api/v1/runs?key=drain"))
                    .bearer_auth(&client.token)
                    .send()
                    .await;
                (reply.map(|r| r.status()).ok(), std::time::Instant::now())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = std::time::Instant::now();
    stack.command_ok(&format!("kill api {signal}"));
    let mut across = AcrossSignal {
        in_flight: Vec::new(),
        answered_before: 0,
    };
    for request in requests {
        let (status, done) = request.await.expect("request task");
        if done < signalled {
            across.answered_before += 1;
        } else {
            across.in_flight.push(status);
        }
    }
    across
}

/// [`slow_requests_across`] until at least one request was in flight at the signal (on a busy
/// machine the 4 may arrive one after another, none held); at most 5 tries.
async fn held_requests_across(signal: &str) -> AcrossSignal {
    for _ in 0..5 {
        let across = slow_requests_across(signal).await;
        if !across.in_flight.is_empty() {
            return across;
        }
    }
    panic!("in 5 tries, no request was in flight when the API got SIG{signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let term = held_requests_across("TERM").await;
    assert!(
        term.in_flight.iter().all(|s| *s == Some(StatusCode::OK)),
        "SIGTERM drains every request in flight: {:?}",
        term.in_flight
    );
    let kill = held_requests_across("KILL").await;
    assert!(
        kill.in_flight.iter().all(|s| *s != Some(StatusCode::OK)),
        "SIGKILL answers no request in flight: {:?} ({} answered before)",
        kill.in_flight,
        kill.answered_before
    );
}
