//! `shakedown demo`: start the bundled testbed on loopback and gate it with the embedded demo
//! plan (`examples/demo.toml`). No setup, no network beyond 127.0.0.1.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::plan::model::Plan;

/// The demo plan, embedded so that the demo runs from any directory.
pub const DEMO_PLAN: &str = include_str!("../../../examples/demo.toml");

/// How long the testbed may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the testbed may take to stop after its stdin closes.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running testbed stack and the credentials it was started with.
pub struct Demo {
    child: Child,
    api: String,
    ops_key: String,
    password: String,
}

/// The first line the testbed stack prints.
#[derive(Debug, Deserialize)]
struct StackInfo {
    api: String,
}

impl Demo {
    /// Start `shakedown testbed stack` with fresh credentials and the given defects, and wait
    /// for it to print where its API listens.
    pub async fn start(defects: &[String], workers: u32) -> anyhow::Result<Demo> {
        let exe = std::env::current_exe().context("cannot find the shakedown executable")?;
        let ops_key = format!("demo-ops-{}", uuid::Uuid::new_v4().simple());
        let password = format!("demo-pw-{}", uuid::Uuid::new_v4().simple());
        let mut command = Command::new(exe);
        command
            .args(["testbed", "stack", "--workers", &workers.to_string()])
            .env("TESTBED_OPS_KEY", &ops_key)
            .env("TESTBED_PASSWORD", &password)
            .env(
                "TESTBED_JWT_SECRET",
                format!("demo-jwt-{}", uuid::Uuid::new_v4().simple()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for defect in defects {
            command.args(["--defect", defect]);
        }
        let mut child = command.spawn().context("cannot start the testbed")?;
        let stdout = child
            .stdout
            .take()
            .context("the testbed's stdout is not captured")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = match tokio::time::timeout(START_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the testbed exited before it was ready ({}); see its messages above",
                    status.map(|s| s.to_string()).unwrap_or_default()
                )
            }
            Ok(Err(err)) => bail!("cannot read the testbed's output: {err}"),
            Err(_) => bail!(
                "the testbed did not start within {}s",
                START_TIMEOUT.as_secs()
            ),
        };
        let info: StackInfo = serde_json::from_str(&first)
            .with_context(|| format!("the testbed printed an unexpected first line: {first}"))?;
        // Keep draining its stdout so the stack never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Demo {
            child,
            api: info.api,
            ops_key,
            password,
        })
    }

    /// The demo plan, compiled with the testbed's address and credentials.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let lookup = |name: &str| match name {
            "SHAKEDOWN_API_URL" => Some(self.api.clone()),
            "TESTBED_OPS_KEY" => Some(self.ops_key.clone()),
            "TESTBED_PASSWORD" => Some(self.password.clone()),
            other => std::env::var(other).ok(),
        };
        crate::plan::compile_str(DEMO_PLAN, Path::new("examples/demo.toml"), &lookup)
            .map_err(|errors| anyhow::anyhow!("the embedded demo plan is not valid: {errors}"))
    }

    /// Stop the testbed: close its stdin (it stops its children and exits), then kill it if it
    /// does not exit in time.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
