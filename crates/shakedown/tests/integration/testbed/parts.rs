//! The API and a worker started one by one, as a process driver does: each prints its first line,
//! they share a data dir, and each exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::steps;
use crate::support::client::Client;
use crate::support::{free_port, wait_for};

struct Part {
    child: Child,
    first_line: Value,
}

impl Part {
    fn start(args: &[String]) -> Part {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .arg("testbed")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning a testbed part");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the first line");
        let first_line = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("first line {line:?} of {args:?}: {e}"));
        Part { child, first_line }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
        wait_for(
            "the part to exit",
            Duration::from_secs(30),
            Duration::from_millis(20),
            || self.child.try_wait().ok().flatten(),
        )
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_worker_run_as_separate_commands() {
    let data = tempfile::tempdir().expect("a data dir");
    let dir = data.path().display().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut api = Part::start(&[
        "api".into(),
        "--listen".into(),
        listen.clone(),
        "--data-dir".into(),
        dir.clone(),
    ]);
    assert_eq!(api.first_line["api"], format!("http://{listen}"));
    assert_eq!(api.first_line["pid"], api.child.id());
    assert!(api.first_line["boot_id"].is_string());
    let mut worker = Part::start(&["worker".into(), "--data-dir".into(), dir]);
    assert!(worker.first_line["boot_id"].is_string());

    let client = Client::login(&format!("http://{listen}")).await;
    let run = client.submit_new("parts-1", "export", steps(2)).await;
    let id = run["id"].as_str().expect("id").to_owned();
    let done = client.wait_terminal(&[id], Duration::from_secs(30)).await;
    assert_eq!(done[0]["status"], "completed");
    assert_eq!(done[0]["completed_by"], worker.first_line["boot_id"]);
    assert!(data.path().join("testbed.db").is_file());

    assert!(worker.terminate().success());
    assert!(api.terminate().success());
}

#[test]
fn the_api_refuses_a_non_loopback_address() {
    let data = tempfile::tempdir().expect("a data dir");
    let output = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["testbed", "api", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("running shakedown");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}
