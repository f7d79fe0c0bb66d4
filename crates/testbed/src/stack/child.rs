//! One supervised child process (the API or a worker): spawned through the [`Launcher`], its
//! first stdout line read as JSON, signalled for real, and stopped with a grace period.

use std::ffi::OsString;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::cli::Launcher;

/// How long a child may take to print its first line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a child could not be started or signalled.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The process could not be spawned.
    #[error("spawning {what}: {source}")]
    Spawn {
        /// Which child.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process exited or went silent before its first line.
    #[error("{what} did not start: {reason}")]
    Startup {
        /// Which child.
        what: String,
        /// What happened instead.
        reason: String,
    },
    /// A signal could not be delivered.
    #[error("signalling {what}: {source}")]
    Signal {
        /// Which child.
        what: String,
        /// The OS error.
        source: nix::Error,
    },
}

/// A running (or exited, not yet restarted) child process.
#[derive(Debug)]
pub struct Child {
    what: String,
    process: tokio::process::Child,
    pid: u32,
    first_line: serde_json::Value,
    exit: Option<ExitStatus>,
}

impl Child {
    /// Spawn `launcher` with `args` and wait for its first stdout line (a JSON object).
    pub async fn spawn(
        what: &str,
        launcher: &Launcher,
        args: Vec<OsString>,
    ) -> Result<Child, ChildError> {
        let mut process = Command::new(&launcher.program)
            .args(&launcher.prefix)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ChildError::Spawn {
                what: what.to_owned(),
                source,
            })?;
        let pid = process.id().unwrap_or(0);
        let startup = |reason: String| ChildError::Startup {
            what: what.to_owned(),
            reason,
        };
        let stdout = process
            .stdout
            .take()
            .ok_or_else(|| startup("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(STARTUP_TIMEOUT, lines.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = process.wait().await.ok();
                return Err(startup(format!("exited first ({status:?})")));
            }
            Err(_) => {
                let _ = process.start_kill();
                return Err(startup(format!(
                    "no first line within {}s",
                    STARTUP_TIMEOUT.as_secs()
                )));
            }
        };
        let first_line: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| startup(format!("first line is not JSON ({e}): {line}")))?;
        // Keep draining stdout so that the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Child {
            what: what.to_owned(),
            process,
            pid,
            first_line,
            exit: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The JSON object the child printed first.
    pub fn first_line(&self) -> &serde_json::Value {
        &self.first_line
    }

    /// How it exited, once it has.
    pub fn exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.process.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Whether the process is still there (stopped counts as alive).
    pub fn is_alive(&mut self) -> bool {
        self.exit().is_none()
    }

    /// Send a real signal.
    pub fn signal(&mut self, signal: Signal) -> Result<(), ChildError> {
        let pid = i32::try_from(self.pid).unwrap_or(i32::MAX);
        kill(Pid::from_raw(pid), signal).map_err(|source| ChildError::Signal {
            what: self.what.clone(),
            source,
        })
    }

    /// Wait up to `timeout` for the process to exit.
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit() {
            return Some(status);
        }
        match tokio::time::timeout(timeout, self.process.wait()).await {
            Ok(Ok(status)) => {
                self.exit = Some(status);
                Some(status)
            }
            _ => None,
        }
    }

    /// TERM, wait up to `grace`, then KILL. A stopped process is continued so it can exit.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit() {
            return Some(status);
        }
        let _ = self.signal(Signal::SIGTERM);
        let _ = self.signal(Signal::SIGCONT);
        if let Some(status) = self.wait_for_exit(grace).await {
            return Some(status);
        }
        let _ = self.signal(Signal::SIGKILL);
        self.wait_for_exit(Duration::from_secs(5)).await
    }
}

/// An exit status in words: `code 0`, `signal 9`.
pub fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "unknown".to_owned(),
    }
}
