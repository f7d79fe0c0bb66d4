//! Nothing shakedown starts outlives it: after a SIGKILL of `shakedown demo` (no chance to
//! stop anything), the testbed's API and workers it started are gone within 2 seconds.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::run::shakedown;
use crate::support::pid_alive;

/// The live children of `parent` whose command line holds `testbed`.
fn testbed_children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("testbed")
        })
        .filter(|pid| pid_alive(*pid))
        .collect()
}

#[test]
fn sigkill_of_the_demo_leaves_no_testbed_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = shakedown()
        .arg("demo")
        .arg("--out")
        .arg(dir.path().join("run"))
        .arg("--no-progress")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shakedown demo");
    let parent = child.id();
    let started = Instant::now();
    let mut targets = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        targets = testbed_children(parent);
        if targets.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        targets.len(),
        3,
        "the API and two workers started: {targets:?}"
    );
    kill(
        Pid::from_raw(i32::try_from(parent).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    let killed = Instant::now();
    while targets.iter().any(|p| pid_alive(*p)) && killed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u32> = targets.into_iter().filter(|p| pid_alive(*p)).collect();
    assert!(
        left.is_empty(),
        "still running 2 s after shakedown was killed: {left:?}"
    );
}
