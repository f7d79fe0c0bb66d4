//! The testbed stack as a fixture: `shakedown testbed stack` with options, its first line parsed,
//! control commands answered, and everything stopped on `Drop` (EOF on stdin, then KILL).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long the stack may take to print its first line or answer a command.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(40);

/// Options for `shakedown testbed stack`.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    workers: Option<usize>,
    defects: Vec<String>,
    step_ms: Option<u64>,
    lease_ms: Option<u64>,
    database: Option<String>,
    s3: Option<(String, String)>,
    bucket: Option<String>,
    data_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl StackOptions {
    /// The defaults: 2 workers, SQLite and local artifacts in a temporary data dir.
    pub fn new() -> StackOptions {
        StackOptions::default()
    }

    /// Number of workers.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Switch on a defect.
    pub fn defect(mut self, name: &str) -> Self {
        self.defects.push(name.to_owned());
        self
    }

    /// Switch on each of these defects.
    pub fn defects(mut self, names: &[&str]) -> Self {
        self.defects.extend(names.iter().map(|n| (*n).to_owned()));
        self
    }

    /// Milliseconds per work step.
    pub fn step_ms(mut self, ms: u64) -> Self {
        self.step_ms = Some(ms);
        self
    }

    /// Lease length in milliseconds.
    pub fn lease_ms(mut self, ms: u64) -> Self {
        self.lease_ms = Some(ms);
        self
    }

    /// A database URL (e.g. from [`super::postgres::Postgres`]).
    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    /// Write artifacts to an S3 endpoint and bucket.
    pub fn s3(mut self, endpoint: &str, bucket: &str) -> Self {
        self.s3 = Some((endpoint.to_owned(), bucket.to_owned()));
        self
    }

    /// The bucket name (local artifacts).
    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = Some(bucket.to_owned());
        self
    }

    /// Use this data dir instead of a temporary one.
    pub fn data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// Set an environment variable for the stack (e.g. `TESTBED_OPS_KEY`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The command-line arguments after `shakedown`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["testbed".to_owned(), "stack".to_owned()];
        let mut push = |flag: &str, value: String| {
            args.push(flag.to_owned());
            args.push(value);
        };
        if let Some(n) = self.workers {
            push("--workers", n.to_string());
        }
        push("--step-ms", self.step_ms.unwrap_or(10).to_string());
        if let Some(ms) = self.lease_ms {
            push("--lease-ms", ms.to_string());
        }
        if let Some(url) = &self.database {
            push("--database", url.clone());
        }
        if let Some((endpoint, bucket)) = &self.s3 {
            push("--s3-endpoint", endpoint.clone());
            push("--s3-bucket", bucket.clone());
        } else if let Some(bucket) = &self.bucket {
            push("--s3-bucket", bucket.clone());
        }
        if let Some(dir) = &self.data_dir {
            push("--data-dir", dir.display().to_string());
        }
        for defect in &self.defects {
            push("--defect", defect.clone());
        }
        args
    }
}

/// One worker in the stack's first line.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerInfo {
    /// Its index, for control commands.
    pub index: usize,
    /// Its pid.
    pub pid: u32,
    /// Its boot id.
    pub boot_id: String,
}

/// The stack's first line.
#[derive(Debug, Clone, Deserialize)]
pub struct StackInfo {
    /// The API base URL.
    pub api: String,
    /// The API pid.
    pub api_pid: u32,
    /// The API boot id.
    pub api_boot_id: String,
    /// The workers.
    pub workers: Vec<WorkerInfo>,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The database URL (password redacted).
    pub database: String,
    /// The artifact directory or `s3://` URI.
    pub artifacts: String,
    /// The bucket.
    pub bucket: String,
    /// The defects switched on.
    pub defects: Vec<String>,
}

/// A running `shakedown testbed stack`.
pub struct Stack {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// What the stack printed first.
    pub info: StackInfo,
}

impl Stack {
    /// Start a stack and wait for its first line. Panics (failing the test) if it does not start.
    pub fn start(options: StackOptions) -> Stack {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shakedown"));
        command
            .args(options.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawning shakedown testbed stack");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stack stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stack = Stack {
            child,
            stdin,
            lines,
            info: StackInfo {
                api: String::new(),
                api_pid: 0,
                api_boot_id: String::new(),
                workers: Vec::new(),
                data_dir: PathBuf::new(),
                database: String::new(),
                artifacts: String::new(),
                bucket: String::new(),
                defects: Vec::new(),
            },
        };
        let first = stack
            .next_line()
            .unwrap_or_else(|| panic!("the stack printed no first line ({:?})", options.args()));
        stack.info = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("bad first line {first:?}: {e}"));
        stack
    }

    fn next_line(&mut self) -> Option<String> {
        self.lines.recv_timeout(ANSWER_TIMEOUT).ok()
    }

    /// The API base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn api(&self) -> &str {
        &self.info.api
    }

    /// The stack process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send one control command and return its one-line JSON answer.
    pub fn command(&mut self, line: &str) -> serde_json::Value {
        let stdin = self.stdin.as_mut().expect("the stack's stdin is closed");
        writeln!(stdin, "{line}").expect("writing a control command");
        stdin.flush().expect("flushing a control command");
        let answer = self
            .next_line()
            .unwrap_or_else(|| panic!("no answer to {line:?}"));
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("bad answer {answer:?}: {e}"))
    }

    /// Send a command that must succeed (`"ok": true`), and return its answer.
    pub fn command_ok(&mut self, line: &str) -> serde_json::Value {
        let answer = self.command(line);
        assert_eq!(answer["ok"], true, "{line:?} failed: {answer}");
        answer
    }

    /// Close stdin and wait (bounded) for the stack to exit.
    pub fn stop(mut self) -> ExitStatus {
        self.stdin = None;
        self.wait(Duration::from_secs(30))
            .expect("the stack did not exit after EOF on stdin")
    }

    /// Send a real signal to the stack process itself.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        nix::sys::signal::kill(pid, signal).expect("signalling the stack");
    }

    /// Wait up to `timeout` for the stack to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stdin = None;
        if self.wait(Duration::from_secs(15)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
