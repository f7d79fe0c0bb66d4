//! The `exec` driver: a shell command per action (`docker restart api`, `kubectl rollout
//! restart deploy/worker`, a cloud CLI). A command that exits non-zero fails the action; one that
//! outlives the control's timeout is killed and the action times out. The command learns the
//! target in `$SHAKEDOWN_TARGET` and, for `kill`, the signal in `$SHAKEDOWN_SIGNAL`.

use std::process::Stdio;
use std::time::Duration;

use futures::FutureExt as _;

use super::tail;
use crate::faults::journal::Revert;
use crate::faults::{Applied, Driver, DriverError, DriverFuture};
use shakedown_plan::model::{ControlVerb, ExecSpec};
use shakedown_plan::redact::Redactor;

/// The most output kept from a command, per stream.
const OUTPUT_CAP: usize = 2048;

/// An exec-controlled target.
pub struct ExecDriver {
    target: String,
    spec: ExecSpec,
    timeout: Duration,
    redactor: Redactor,
}

/// Run `sh -c command` with `env`, killed after `timeout`; its stdout on success.
pub async fn run_shell(
    command: &str,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<String, DriverError> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DriverError::Failed(format!("cannot run `{command}`: {e}")))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(DriverError::Failed(format!("`{command}` failed: {e}"))),
        Err(_) => {
            return Err(DriverError::Timeout {
                what: format!("`{command}`"),
                after: timeout,
            });
        }
    };
    if !output.status.success() {
        return Err(DriverError::Failed(format!(
            "`{command}` exited with {}: {}",
            output.status,
            tail(&output.stderr, OUTPUT_CAP)
        )));
    }
    Ok(tail(&output.stdout, OUTPUT_CAP))
}

impl ExecDriver {
    /// A driver for `target`; `timeout` bounds every command.
    pub fn new(target: &str, spec: ExecSpec, timeout: Duration, redactor: Redactor) -> ExecDriver {
        ExecDriver {
            target: target.to_string(),
            spec,
            timeout,
            redactor,
        }
    }

    fn run(&self, verb: ControlVerb, signal: &str) -> DriverFuture<'_, Applied> {
        let signal = signal.to_string();
        async move {
            let Some(command) = self.spec.commands.get(&verb) else {
                return Err(DriverError::Unsupported {
                    driver: "exec",
                    verb: verb.as_str(),
                });
            };
            let env = [
                ("SHAKEDOWN_TARGET", self.target.as_str()),
                ("SHAKEDOWN_SIGNAL", signal.as_str()),
            ];
            run_shell(command, &env, self.timeout)
                .await
                .map_err(|e| match e {
                    DriverError::Failed(m) => {
                        DriverError::Failed(self.redactor.redact(&m).into_owned())
                    }
                    other => other,
                })?;
            Ok(Applied::accepted(format!(
                "`{}` exited 0",
                self.redactor.redact(command)
            )))
        }
        .boxed()
    }
}

impl Driver for ExecDriver {
    fn kind(&self) -> &'static str {
        "exec"
    }

    fn start(&self) -> DriverFuture<'_, Applied> {
        self.run(ControlVerb::Start, "")
    }

    fn stop(&self) -> DriverFuture<'_, Applied> {
        self.run(ControlVerb::Stop, "")
    }

    fn kill(&self, signal: &str) -> DriverFuture<'_, Applied> {
        self.run(ControlVerb::Kill, signal)
    }

    fn pause(&self) -> DriverFuture<'_, Applied> {
        self.run(ControlVerb::Pause, "")
    }

    fn resume(&self) -> DriverFuture<'_, Applied> {
        self.run(ControlVerb::Resume, "")
    }

    fn restart(&self) -> DriverFuture<'_, Applied> {
        self.run(ControlVerb::Restart, "")
    }

    fn identity(&self) -> DriverFuture<'_, Option<String>> {
        async { Ok(None) }.boxed()
    }

    fn preflight(&self) -> DriverFuture<'_, String> {
        let verbs: Vec<&str> = self.spec.commands.keys().map(|v| v.as_str()).collect();
        let line = format!("exec commands for {}", verbs.join(", "));
        async move { Ok(line) }.boxed()
    }

    fn revert_recipe(&self, verb: ControlVerb) -> Revert {
        let undo = verb.undo();
        match undo.and_then(|u| self.spec.commands.get(&u)) {
            Some(command) => Revert::Command {
                command: command.clone(),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            None => Revert::Nothing {
                why: format!(
                    "the exec driver has no command that undoes {}",
                    verb.as_str()
                ),
            },
        }
    }
}
