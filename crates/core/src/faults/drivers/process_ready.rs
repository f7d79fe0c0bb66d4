//! What the `process` driver needs to tell when a process is ready: the last lines it printed
//! (for errors that show why it was not), and a readiness command run with its environment.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use shakedown_plan::model::ProcessSpec;

/// How many of the last lines are kept for an error.
const TAIL_LINES: usize = 12;
/// How long one try of a readiness command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The last lines a process printed, redacted, each with its stream.
#[derive(Debug, Default, Clone)]
pub struct Tail(VecDeque<String>);

impl Tail {
    /// Keep `line` of `stream`, dropping the oldest beyond the limit.
    pub fn push(&mut self, stream: &str, line: &str) {
        if self.0.len() == TAIL_LINES {
            self.0.pop_front();
        }
        let line: String = line.chars().take(300).collect();
        self.0.push_back(format!("[{stream}] {line}"));
    }

    /// The lines, indented for an error message, or a note that there were none.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "it printed nothing".to_string();
        }
        let lines: Vec<&str> = self.0.iter().map(String::as_str).collect();
        format!("its last lines:\n    {}", lines.join("\n    "))
    }
}

/// Give `cmd` the process's `env` and `cwd`. An empty value removes the variable, so that
/// `${OPTIONAL:-}` can leave it unset.
pub fn with_env(cmd: &mut tokio::process::Command, spec: &ProcessSpec) {
    for (key, value) in &spec.env {
        if value.is_empty() {
            cmd.env_remove(key);
        } else {
            cmd.env(key, value);
        }
    }
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
}

/// Whether `command` (run by `sh -c` with the process's `env` and `cwd`) exits 0 within
/// [`COMMAND_TIMEOUT`].
pub async fn command_ok(spec: &ProcessSpec, command: &str) -> bool {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    with_env(&mut cmd, spec);
    let Ok(child) = cmd.spawn() else {
        return false;
    };
    matches!(
        tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await,
        Ok(Ok(out)) if out.status.success()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut tail = Tail::default();
        assert_eq!(tail.describe(), "it printed nothing");
        for i in 0..20 {
            tail.push("stderr", &format!("line {i}"));
        }
        let text = tail.describe();
        assert!(text.contains("[stderr] line 19"), "{text}");
        assert!(!text.contains("line 7\n"), "{text}");
        assert_eq!(text.lines().count(), TAIL_LINES + 1);
    }
}
