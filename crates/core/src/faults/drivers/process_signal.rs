//! How the `process` driver signals its target and stops it: to its whole process group or its
//! main process alone, SIGTERM with a grace period then SIGKILL, and the proof of which
//! processes the signal reached and that all of them exited.

use std::time::Duration;

use super::process::ProcessDriver;
use super::{Delivery, group, signal_recorded};
use crate::faults::{Applied, DriverError};

/// How long a killed process may take to exit before the kill counts as unobserved.
pub(super) const EXIT_WAIT: Duration = Duration::from_secs(10);

impl ProcessDriver {
    pub(super) async fn wait_exit(&self, within: Duration) -> Option<String> {
        let mut rx = self.with_state(|s| s.exit_rx.clone())?;
        let wait = async {
            loop {
                if let Some(exit) = rx.borrow_and_update().clone() {
                    return Some(exit);
                }
                if rx.changed().await.is_err() {
                    return rx.borrow().clone();
                }
            }
        };
        tokio::time::timeout(within, wait).await.ok().flatten()
    }

    /// Send `signal` to the target: its whole process group, or only its main process with
    /// `group = false`.
    pub(super) fn send(
        &self,
        pid: i32,
        start_time: Option<u64>,
        signal: &str,
    ) -> Result<Delivery, String> {
        if self.spec.group {
            group::signal(pid, start_time, signal)
        } else {
            signal_recorded(pid, start_time, signal)
        }
    }

    /// The processes a signal to the target reaches now.
    fn reach(&self, pid: i32) -> Vec<i32> {
        if self.spec.group {
            group::members(pid)
        } else {
            vec![pid]
        }
    }

    /// Who got a signal, for the proof: `pid 12` or `pid 12's group (3 processes)`.
    pub(super) fn whom(&self, pid: i32, reached: &[i32]) -> String {
        if self.spec.group {
            format!("pid {pid}'s group ({})", group::count(reached.len()))
        } else {
            format!("pid {pid}")
        }
    }

    /// Signal the running target; its main PID and the processes the signal reached.
    pub(super) fn signal(&self, signal: &str) -> Result<(i32, Vec<i32>), DriverError> {
        let Some((pid, start_time)) = self.alive() else {
            return Err(DriverError::Failed(format!(
                "target {} is not running",
                self.target
            )));
        };
        let reached = self.reach(pid);
        self.send(pid, start_time, signal)
            .map_err(DriverError::Failed)
            .map(|_| (pid, reached))
    }

    pub(super) async fn stop_inner(&self) -> Result<Applied, DriverError> {
        let Some((pid, start_time)) = self.alive() else {
            return Ok(self.stop_leftovers().await);
        };
        let reached = self.reach(pid);
        let to = self.whom(pid, &reached);
        let _ = self.send(pid, start_time, "TERM");
        let _ = self.send(pid, start_time, "CONT");
        let begun = tokio::time::Instant::now();
        let exit = self.wait_exit(self.spec.grace).await;
        let left = if self.spec.group {
            group::wait_empty(pid, self.spec.grace.saturating_sub(begun.elapsed())).await
        } else {
            Vec::new()
        };
        if let Some(exit) = &exit
            && left.is_empty()
        {
            let outlived = if self.spec.group {
                String::new()
            } else {
                outlived_note(&group::members(pid))
            };
            return Ok(Applied::proven(format!(
                "{to} got SIGTERM and all exited (pid {pid}: {exit}){outlived}"
            )));
        }
        let still = if exit.is_none() && !self.spec.group {
            vec![pid]
        } else {
            left
        };
        let _ = self.send(pid, start_time, "KILL");
        let exit = match exit {
            Some(exit) => Some(exit),
            None => self.wait_exit(EXIT_WAIT).await,
        };
        let left = if self.spec.group {
            group::wait_empty(pid, EXIT_WAIT).await
        } else {
            Vec::new()
        };
        let grace = humantime::format_duration(self.spec.grace);
        match exit {
            Some(exit) if left.is_empty() => Ok(Applied::proven(format!(
                "{to} got SIGTERM; {} still ran after {grace} (pids {}), got SIGKILL, and all exited (pid {pid}: {exit})",
                group::count(still.len()),
                group::list(&still)
            ))),
            Some(_) => Err(DriverError::Failed(format!(
                "{} of pid {pid}'s group did not exit after SIGKILL: pids {}",
                group::count(left.len()),
                group::list(&left)
            ))),
            None => Err(DriverError::Failed(format!(
                "pid {pid} did not exit after SIGKILL"
            ))),
        }
    }

    /// Stop what is left of an exited target's group (children of a main process that was
    /// killed alone, even with `group = false`): a start must not run beside them, and no
    /// process shakedown started outlives the run.
    async fn stop_leftovers(&self) -> Applied {
        let not_running = format!("target {} was not running", self.target);
        let last = self.with_state(|s| s.pid);
        let Some(pid) = last else {
            return Applied::accepted(not_running);
        };
        let left = group::members(pid);
        if left.is_empty() {
            return Applied::accepted(not_running);
        }
        let _ = group::signal(pid, None, "KILL");
        let still = group::wait_empty(pid, EXIT_WAIT).await;
        Applied::accepted(format!(
            "{not_running}; {} left in its group (pids {}) got SIGKILL{}",
            group::count(left.len()),
            group::list(&left),
            if still.is_empty() {
                " and exited".to_string()
            } else {
                format!("; {} did not exit", group::count(still.len()))
            }
        ))
    }
}

/// For `group = false`: the processes of the group that outlived its main process.
pub(super) fn outlived_note(outlived: &[i32]) -> String {
    if outlived.is_empty() {
        return String::new();
    }
    format!(
        "; {} of its group outlived it (pids {}): `group = false` signals only the main process",
        group::count(outlived.len()),
        group::list(outlived)
    )
}
