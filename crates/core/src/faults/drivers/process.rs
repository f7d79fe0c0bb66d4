//! The `process` driver: shakedown starts and supervises a local process. It captures the
//! process's stdout and stderr, redacted, to `<target>.stdout.log` and `<target>.stderr.log` in
//! the run directory, restarts it with the same command line, and acts with real signals:
//! SIGTERM with a grace period then SIGKILL to stop, any signal to kill (proven by the exit
//! status it observes), SIGSTOP and SIGCONT to pause and resume (proven by `/proc` state).
//! Each target leads a process group of its own; `kill` and `stop` signal the whole group
//! (unless `group = false`), and the proof says how many processes it reached and that all of
//! them exited. Ready is an HTTP probe, a log line, a command, or the first line on stdout.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use super::process_ready::{Tail, command_ok, with_env};
use super::process_signal::{EXIT_WAIT, outlived_note};
use super::{group, is_stopped, proc_start_time};
use crate::faults::journal::{Entry, Event, Journal, Revert};
use crate::faults::{Applied, Driver, DriverError, DriverFuture};
use crate::stop::RunStop;
use shakedown_plan::model::{ControlVerb, Plan, ProcessSpec, Readiness};
use shakedown_plan::redact::Redactor;

/// How often readiness is polled.
const READY_POLL: Duration = Duration::from_millis(100);

/// The live facts about the supervised process.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) pid: Option<i32>,
    start_time: Option<u64>,
    first_line: Option<serde_json::Value>,
    got_first_line: bool,
    /// A line matched the `ready.log` expression since the last start.
    log_ready: bool,
    /// The last lines printed since the last start.
    tail: Tail,
    ready: bool,
    exit: Option<String>,
    pub(super) exit_rx: Option<watch::Receiver<Option<String>>>,
    generation: u64,
}

/// A process target.
pub struct ProcessDriver {
    pub(super) target: String,
    pub(super) spec: ProcessSpec,
    plan: Arc<Plan>,
    logs: PathBuf,
    redactor: Redactor,
    journal: Option<Arc<Journal>>,
    /// Where a failed write of its logs stops the run (None outside a run).
    stop: Option<RunStop>,
    state: Arc<Mutex<State>>,
    /// Serialises start/stop/restart so that two never interleave.
    ops: tokio::sync::Mutex<()>,
}

impl ProcessDriver {
    /// A driver for `target`, logging into `logs` (the run directory).
    pub fn new(
        target: &str,
        spec: ProcessSpec,
        plan: Arc<Plan>,
        logs: PathBuf,
        journal: Option<Arc<Journal>>,
    ) -> ProcessDriver {
        ProcessDriver {
            target: target.to_string(),
            redactor: Redactor::new(&plan.secrets),
            spec,
            plan,
            logs,
            journal,
            stop: None,
            state: Arc::new(Mutex::new(State::default())),
            ops: tokio::sync::Mutex::new(()),
        }
    }

    /// Stop the run through `stop` when writing the logs fails: they are evidence.
    pub fn stopping(mut self, stop: Option<RunStop>) -> ProcessDriver {
        self.stop = stop;
        self
    }

    pub(super) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        match self.state.lock() {
            Ok(mut state) => f(&mut state),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    pub(super) fn alive(&self) -> Option<(i32, Option<u64>)> {
        self.with_state(|s| match (s.pid, &s.exit) {
            (Some(pid), None) => Some((pid, s.start_time)),
            _ => None,
        })
    }

    fn journal(&self, entry: Entry) {
        if let Some(journal) = &self.journal
            && let Err(e) = journal.append(entry)
        {
            tracing::warn!(error = %e, "cannot write the fault journal");
        }
    }

    fn log_line(&self, stream: &str, line: &str) {
        let path = self.logs.join(format!("{}.{stream}.log", self.target));
        let line = self.redactor.redact(line);
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let (Err(e), Some(stop)) = (written, &self.stop) {
            stop.write_failed(&path, &e);
        }
    }

    /// Spawn the process and wait until it is ready.
    async fn spawn_ready(&self) -> Result<Applied, DriverError> {
        let Some((program, args)) = self.spec.command.split_first() else {
            return Err(DriverError::Failed(format!(
                "target {} has an empty command",
                self.target
            )));
        };
        let mut command = tokio::process::Command::new(program);
        command.args(args);
        with_env(&mut command, &self.spec);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C in the terminal reaches shakedown, which then
            // reverts and stops its targets in order; and `kill` and `stop` reach its children.
            .process_group(0)
            .kill_on_drop(true);
        die_with_shakedown(&mut command);
        let mut child = command.spawn().map_err(|e| {
            DriverError::Failed(format!(
                "cannot start target {} ({}): {e}",
                self.target,
                self.redactor.redact(program)
            ))
        })?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| DriverError::Failed("the started process has no pid".into()))?;
        let start_time = proc_start_time(pid);
        let (exit_tx, exit_rx) = watch::channel(None);
        let generation = self.with_state(|s| {
            s.generation += 1;
            *s = State {
                pid: Some(pid),
                start_time,
                exit_rx: Some(exit_rx.clone()),
                generation: s.generation,
                ..State::default()
            };
            s.generation
        });
        self.log_line("stdout", &format!("--- started pid {pid} ---"));
        let mut revert_entry = Entry::new(&format!("process:{}", self.target), Event::Started)
            .detail(format!("pid {pid}"));
        revert_entry.target = Some(self.target.clone());
        revert_entry.revert = Some(Revert::Signal {
            pid,
            start_time,
            signal: "TERM".into(),
            group: self.spec.group,
        });
        self.journal(revert_entry);
        if let Some(stdout) = child.stdout.take() {
            self.pump(stdout, "stdout", generation);
        }
        if let Some(stderr) = child.stderr.take() {
            self.pump(stderr, "stderr", generation);
        }
        let state = self.state.clone();
        let journal = self.journal.clone();
        let fault = format!("process:{}", self.target);
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => describe_exit(&status),
                Err(e) => format!("unknown ({e})"),
            };
            if let Ok(mut s) = state.lock()
                && s.generation == generation
            {
                s.exit = Some(exit.clone());
                s.ready = false;
            }
            if let Some(journal) = journal {
                let _ = journal.append(
                    Entry::new(&fault, Event::Stopped).detail(format!("pid {pid} exited: {exit}")),
                );
            }
            let _ = exit_tx.send(Some(exit));
        });
        self.wait_ready(pid, exit_rx).await?;
        self.with_state(|s| s.ready = true);
        Ok(Applied::accepted(format!("started pid {pid}")))
    }

    fn pump(
        &self,
        stream: impl AsyncRead + Unpin + Send + 'static,
        name: &'static str,
        generation: u64,
    ) {
        let state = self.state.clone();
        let logs = self.logs.join(format!("{}.{name}.log", self.target));
        let redactor = self.redactor.clone();
        let ready_log = match &self.spec.ready {
            Readiness::Log(regex) => Some(regex.clone()),
            _ => None,
        };
        let stop = self.stop.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            // After a failed write the lines are still read, so that the process never blocks
            // on a full pipe, but no longer written.
            let failed = |e: std::io::Error| {
                if let Some(stop) = &stop {
                    stop.write_failed(&logs, &e);
                }
            };
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&logs)
                .map_err(failed)
                .ok();
            while let Ok(Some(line)) = lines.next_line().await {
                let redacted = redactor.redact(&line);
                if let Ok(mut s) = state.lock()
                    && s.generation == generation
                {
                    if name == "stdout" && !s.got_first_line {
                        s.got_first_line = true;
                        s.first_line = serde_json::from_str(&line).ok();
                    }
                    if ready_log.as_ref().is_some_and(|r| r.is_match(&line)) {
                        s.log_ready = true;
                    }
                    s.tail.push(name, &redacted);
                }
                if let Some(f) = file.as_mut()
                    && let Err(e) = writeln!(f, "{redacted}")
                {
                    failed(e);
                    file = None;
                }
            }
        });
    }

    async fn wait_ready(
        &self,
        pid: i32,
        mut exit: watch::Receiver<Option<String>>,
    ) -> Result<(), DriverError> {
        let deadline = tokio::time::Instant::now() + self.spec.ready_timeout;
        loop {
            let exited = exit.borrow_and_update().clone();
            if let Some(status) = exited {
                // Let the pumps take the last lines it printed.
                tokio::time::sleep(READY_POLL).await;
                return Err(DriverError::Failed(format!(
                    "target {} (pid {pid}) exited before it was ready ({}): {status}; {} (all of it in {}.stdout.log and {}.stderr.log in the run directory)",
                    self.target,
                    self.ready_form(),
                    self.with_state(|s| s.tail.describe()),
                    self.target,
                    self.target
                )));
            }
            if self.ready_now().await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DriverError::Failed(format!(
                    "target {} (pid {pid}) was not ready within {} ({}); {}; give it longer with `ready = {{ timeout = \"...\" }}` or fix the readiness form",
                    self.target,
                    humantime::format_duration(self.spec.ready_timeout),
                    self.ready_form(),
                    self.with_state(|s| s.tail.describe()),
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(READY_POLL) => {}
                _ = exit.changed() => {}
            }
        }
    }

    /// Whether the running process is ready by its `ready` form, asked once.
    async fn ready_now(&self) -> bool {
        match &self.spec.ready {
            Readiness::Probe(probe) => {
                crate::faults::probe::healthy(&self.plan, &self.target, probe, READY_POLL * 10)
                    .await
            }
            Readiness::Log(_) => self.with_state(|s| s.log_ready),
            Readiness::Command(command) => command_ok(&self.spec, command).await,
            Readiness::FirstLine => self.with_state(|s| s.got_first_line),
        }
    }

    /// What ready means for this target, for messages.
    fn ready_form(&self) -> String {
        match &self.spec.ready {
            Readiness::Probe(probe) => format!(
                "waiting for {} {} to answer 2xx",
                probe.method.as_str(),
                probe.path.source()
            ),
            Readiness::Log(regex) => format!("waiting for a line matching `{}`", regex.as_str()),
            Readiness::Command(command) => {
                format!("waiting for `{}` to exit 0", self.redactor.redact(command))
            }
            Readiness::FirstLine => "waiting for its first line on stdout".to_string(),
        }
    }
}

/// Tie the started process to shakedown's life: the kernel sends it SIGKILL when shakedown dies,
/// even by SIGKILL, so no target outlives a killed run (`PR_SET_PDEATHSIG`). Its own children
/// are then orphans, which the next run's reconcile stops with the group. Started from a tokio
/// worker thread, which lives as long as the runtime does.
#[allow(unsafe_code)]
fn die_with_shakedown(command: &mut tokio::process::Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec; it only makes two system
    // calls (prctl, getppid), which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            // shakedown died between the fork and the prctl: do not start at all.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other(
                    "shakedown exited before the target started",
                ));
            }
            Ok(())
        });
    }
}

fn describe_exit(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "unknown".to_string(),
    }
}

impl Driver for ProcessDriver {
    fn kind(&self) -> &'static str {
        "process"
    }

    fn start(&self) -> DriverFuture<'_, Applied> {
        async move {
            let _guard = self.ops.lock().await;
            if let Some((pid, _)) = self.alive() {
                return Ok(Applied::accepted(format!("already running as pid {pid}")));
            }
            self.spawn_ready().await
        }
        .boxed()
    }

    fn stop(&self) -> DriverFuture<'_, Applied> {
        async move {
            let _guard = self.ops.lock().await;
            self.stop_inner().await
        }
        .boxed()
    }

    fn kill(&self, signal: &str) -> DriverFuture<'_, Applied> {
        let signal = signal.to_string();
        async move {
            let _guard = self.ops.lock().await;
            let (pid, reached) = self.signal(&signal)?;
            let start_time = self.with_state(|s| s.start_time);
            let _ = self.send(pid, start_time, "CONT");
            let exit = self.wait_exit(EXIT_WAIT).await;
            let wait = humantime::format_duration(EXIT_WAIT);
            let to = self.whom(pid, &reached);
            let Some(exit) = exit else {
                return Ok(Applied::accepted(format!(
                    "{to} got SIG{signal} and pid {pid} did not exit within {wait}"
                )));
            };
            if !self.spec.group {
                return Ok(Applied::proven(format!(
                    "pid {pid} got SIG{signal} and exited: {exit}{}",
                    outlived_note(&group::members(pid))
                )));
            }
            let left = group::wait_empty(pid, EXIT_WAIT).await;
            if left.is_empty() {
                Ok(Applied::proven(format!(
                    "{to} got SIG{signal} and all exited (pid {pid}: {exit})"
                )))
            } else {
                Ok(Applied::accepted(format!(
                    "{to} got SIG{signal}; pid {pid} exited ({exit}) but {} of its group still ran after {wait}: pids {}",
                    group::count(left.len()),
                    group::list(&left)
                )))
            }
        }
        .boxed()
    }

    fn pause(&self) -> DriverFuture<'_, Applied> {
        async move {
            let (pid, _) = self.signal("STOP")?;
            let start = self.with_state(|s| s.start_time);
            for _ in 0..50 {
                if is_stopped(pid, start) {
                    return Ok(Applied::proven(format!("pid {pid} is stopped (state T)")));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(Applied::accepted(format!(
                "pid {pid} got SIGSTOP but was not seen stopped"
            )))
        }
        .boxed()
    }

    fn resume(&self) -> DriverFuture<'_, Applied> {
        async move {
            let Some((pid, start)) = self.alive() else {
                return Ok(Applied::accepted(format!(
                    "target {} is not running: nothing to resume",
                    self.target
                )));
            };
            self.send(pid, start, "CONT").map_err(DriverError::Failed)?;
            for _ in 0..50 {
                if !is_stopped(pid, start) {
                    return Ok(Applied::proven(format!("pid {pid} is running again")));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(DriverError::Failed(format!(
                "pid {pid} is still stopped after SIGCONT"
            )))
        }
        .boxed()
    }

    fn restart(&self) -> DriverFuture<'_, Applied> {
        async move {
            let _guard = self.ops.lock().await;
            let stopped = self.stop_inner().await?;
            let started = self.spawn_ready().await?;
            Ok(Applied::accepted(format!(
                "{}; {}",
                stopped.detail, started.detail
            )))
        }
        .boxed()
    }

    fn identity(&self) -> DriverFuture<'_, Option<String>> {
        let pid = self.with_state(|s| s.pid);
        async move { Ok(pid.map(|p| format!("pid {p}"))) }.boxed()
    }

    fn preflight(&self) -> DriverFuture<'_, String> {
        let state = self.alive();
        let target = self.target.clone();
        async move {
            match state {
                Some((pid, _)) => Ok(format!("process {target} runs as pid {pid}")),
                None => Err(DriverError::Failed(format!(
                    "process target {target} is not running"
                ))),
            }
        }
        .boxed()
    }

    fn revert_recipe(&self, verb: ControlVerb) -> Revert {
        match verb {
            ControlVerb::Pause => match self.with_state(|s| (s.pid, s.start_time)) {
                (Some(pid), start_time) => Revert::Signal {
                    pid,
                    start_time,
                    signal: "CONT".into(),
                    group: self.spec.group,
                },
                (None, _) => Revert::Nothing {
                    why: "the process is not running".into(),
                },
            },
            ControlVerb::Kill | ControlVerb::Stop => Revert::InProcess {
                verb: "start".into(),
            },
            ControlVerb::Restart => Revert::InProcess {
                verb: "start".into(),
            },
            ControlVerb::Start | ControlVerb::Resume => Revert::Nothing {
                why: "starting or resuming leaves nothing to undo".into(),
            },
        }
    }

    fn up(&self) -> Option<bool> {
        Some(self.with_state(|s| s.exit.is_none() && s.ready && s.pid.is_some()))
            .map(|up| up && self.alive().is_some_and(|(pid, st)| !is_stopped(pid, st)))
    }

    fn up_now(&self) -> futures::future::BoxFuture<'_, Option<bool>> {
        async move {
            let up = self.up()?;
            match &self.spec.ready {
                Readiness::Command(command) if up => Some(command_ok(&self.spec, command).await),
                _ => Some(up),
            }
        }
        .boxed()
    }

    fn first_line(&self) -> Option<serde_json::Value> {
        self.with_state(|s| s.first_line.clone())
    }
}
