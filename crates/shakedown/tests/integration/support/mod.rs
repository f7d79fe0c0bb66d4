//! Test fixtures shared by every integration test: the testbed stack, a real Postgres, a real
//! Redis, an S3 server (moto), an HTTP client for the testbed API, an SSE reader and a package
//! checker.
//!
//! Fixtures clean up on `Drop`. A fixture whose program is missing panics with a message that
//! says what to install: a test never passes silently for lack of a tool.

// The fixtures offer more than any one suite uses; each suite uses its own part.
#![allow(dead_code)]

pub mod client;
pub mod package;
pub mod postgres;
pub mod redis;
pub mod s3;
pub mod sse;
pub mod stack;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free loopback port")
}

/// Find `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Poll `check` every `every` until it returns `Some`, or panic with `what` after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(every);
    }
}

/// Whether a process with this pid exists (signal 0).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // A zombie still answers signal 0; treat a zombie as gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    !zombie && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}
