//! The one-command local stack: the API and N workers as child processes on a loopback port, a
//! first stdout line describing them, control commands on stdin, and a clean stop on SIGTERM,
//! SIGINT or end of input.

mod child;
pub mod control;

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};

pub use child::{Child, ChildError};
use control::{ControlCommand, Target};

use crate::cli::{Launcher, StackArgs, settings_to_args};
use crate::config::{Settings, redact_url_password};
use crate::jsonl::write_line;
use crate::outage::DbOutage;
use crate::store::Store;

/// How long a child gets between TERM and KILL.
pub const STOP_GRACE: Duration = crate::api::DRAIN_DEADLINE.saturating_add(Duration::from_secs(1));

/// The supervised children.
struct Supervisor {
    launcher: Launcher,
    settings: Settings,
    api_listen: SocketAddr,
    api: Option<Child>,
    workers: Vec<Option<Child>>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn error(message: impl std::fmt::Display) -> serde_json::Value {
    serde_json::json!({ "ok": false, "error": message.to_string() })
}

impl Supervisor {
    fn slot(&mut self, target: Target) -> Result<&mut Option<Child>, String> {
        match target {
            Target::Api => Ok(&mut self.api),
            Target::Worker(i) => {
                let count = self.workers.len();
                self.workers
                    .get_mut(i)
                    .ok_or_else(|| format!("no worker {i}: the stack has {count} workers"))
            }
        }
    }

    fn args(&self, target: Target) -> Vec<OsString> {
        let mut args: Vec<OsString> = match target {
            Target::Api => vec![
                "api".into(),
                "--listen".into(),
                self.api_listen.to_string().into(),
            ],
            Target::Worker(index) => vec![
                "worker".into(),
                "--worker-index".into(),
                index.to_string().into(),
            ],
        };
        args.extend(settings_to_args(&self.settings));
        args.push("--exit-with-parent".into());
        args
    }

    async fn start(&mut self, target: Target) -> Result<serde_json::Value, String> {
        let args = self.args(target);
        let launcher = self.launcher.clone();
        let slot = self.slot(target)?;
        if let Some(child) = slot.as_mut() {
            if child.is_alive() {
                return Err(format!("{target} is already running (pid {})", child.pid()));
            }
        }
        let child = Child::spawn(&target.to_string(), &launcher, args)
            .await
            .map_err(|e| e.to_string())?;
        let answer = serde_json::json!({
            "ok": true,
            "target": target.to_string(),
            "pid": child.pid(),
            "boot_id": child.first_line().get("boot_id").cloned(),
        });
        *slot = Some(child);
        Ok(answer)
    }

    async fn handle(&mut self, command: ControlCommand) -> Result<serde_json::Value, String> {
        match command {
            ControlCommand::Status => Ok(self.status()),
            ControlCommand::Start(target) => self.start(target).await,
            ControlCommand::Restart(target) => {
                if let Some(child) = self.slot(target)?.as_mut() {
                    child.stop(STOP_GRACE).await;
                }
                self.start(target).await
            }
            ControlCommand::Kill(target, sig) => {
                let slot = self.slot(target)?;
                let child = match slot.as_mut() {
                    Some(child) => child,
                    None => return Err(format!("{target} is not running")),
                };
                if !child.is_alive() {
                    return Err(format!("{target} is not running"));
                }
                child.signal(sig).map_err(|e| e.to_string())?;
                let mut answer = serde_json::json!({
                    "ok": true,
                    "target": target.to_string(),
                    "pid": child.pid(),
                    "signal": sig.as_str(),
                });
                // A KILL cannot be ignored: report the exit so `status` agrees at once.
                if sig == Signal::SIGKILL {
                    if let Some(status) = child.wait_for_exit(Duration::from_secs(5)).await {
                        answer["exit"] = serde_json::json!(child::describe_exit(&status));
                    }
                }
                Ok(answer)
            }
        }
    }

    fn describe(child: &mut Option<Child>) -> serde_json::Value {
        match child {
            Some(child) => {
                let exit = child.exit().map(|s| child::describe_exit(&s));
                serde_json::json!({
                    "pid": child.pid(),
                    "alive": exit.is_none(),
                    "boot_id": child.first_line().get("boot_id").cloned(),
                    "exit": exit,
                })
            }
            None => serde_json::json!({ "pid": null, "alive": false }),
        }
    }

    fn status(&mut self) -> serde_json::Value {
        let api = Self::describe(&mut self.api);
        let workers: Vec<_> = self
            .workers
            .iter_mut()
            .enumerate()
            .map(|(index, child)| {
                let mut value = Self::describe(child);
                value["index"] = serde_json::json!(index);
                value
            })
            .collect();
        serde_json::json!({ "ok": true, "api": api, "workers": workers })
    }

    async fn stop_all(&mut self) {
        let mut stops = Vec::new();
        for child in self
            .workers
            .iter_mut()
            .chain(std::iter::once(&mut self.api))
        {
            if let Some(child) = child.as_mut() {
                stops.push(child.stop(STOP_GRACE));
            }
        }
        futures::future::join_all(stops).await;
    }
}

/// Run the stack until SIGTERM, SIGINT or end of stdin.
pub async fn run(args: StackArgs, launcher: Launcher) -> anyhow::Result<()> {
    let temp_dir = match &args.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("testbed-")
                .tempdir()
                .context("creating a temporary data dir")?,
        ),
    };
    let data_dir: PathBuf = match (&args.data_dir, &temp_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(temp)) => temp.path().to_path_buf(),
        (None, None) => anyhow::bail!("no data dir"),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);
    let settings = args.store.settings(&data_dir)?;
    // Create the schema once, before the children race to it.
    Store::open(&settings.database_url, DbOutage::new(&data_dir))
        .await
        .with_context(|| format!("opening {}", settings.redacted_database_url()))?
        .close()
        .await;
    // An unreachable Redis is the stack's own startup error, not N workers failing to start.
    if let Some(url) = &settings.redis_url {
        crate::boot_info::ping(url).await?;
    }
    let port = match args.port {
        0 => free_port().context("finding a free port")?,
        port => port,
    };
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut supervisor = Supervisor {
        launcher,
        settings,
        api_listen: SocketAddr::from(([127, 0, 0, 1], port)),
        api: None,
        workers: (0..args.workers).map(|_| None).collect(),
    };
    if let Err(err) = start_all(&mut supervisor).await {
        supervisor.stop_all().await;
        return Err(err);
    }
    write_line(&first_line(&mut supervisor))?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let answer = match line.parse::<ControlCommand>() {
                        Ok(command) => supervisor.handle(command).await.unwrap_or_else(error),
                        Err(err) => error(err),
                    };
                    write_line(&answer)?;
                }
                Ok(None) | Err(_) => break,
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    supervisor.stop_all().await;
    drop(temp_dir);
    Ok(())
}

async fn start_all(supervisor: &mut Supervisor) -> anyhow::Result<()> {
    supervisor
        .start(Target::Api)
        .await
        .map_err(anyhow::Error::msg)?;
    for index in 0..supervisor.workers.len() {
        supervisor
            .start(Target::Worker(index))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn first_line(supervisor: &mut Supervisor) -> serde_json::Value {
    let settings = &supervisor.settings;
    let workers: Vec<_> = supervisor
        .workers
        .iter()
        .enumerate()
        .map(|(index, child)| {
            serde_json::json!({
                "index": index,
                "pid": child.as_ref().map(Child::pid),
                "boot_id": child.as_ref().and_then(|c| c.first_line().get("boot_id").cloned()),
            })
        })
        .collect();
    let api = supervisor.api.as_ref();
    serde_json::json!({
        "api": format!("http://{}", supervisor.api_listen),
        "api_pid": api.map(Child::pid),
        "api_boot_id": api.and_then(|c| c.first_line().get("boot_id").cloned()),
        "workers": workers,
        "data_dir": settings.data_dir,
        "database": settings.redacted_database_url(),
        "artifacts": settings.artifacts_description(),
        "bucket": settings.bucket,
        "redis": settings.redacted_redis_url(),
        "canary_upstream": redact_url_password(
            &settings.canary.upstream.clone().unwrap_or_else(|| format!(
                "http://{}{}",
                supervisor.api_listen,
                crate::api::canary::UPSTREAM_PATH
            ))
        ),
        "defects": settings.defects.iter().map(|d| d.name()).collect::<Vec<_>>(),
    })
}
