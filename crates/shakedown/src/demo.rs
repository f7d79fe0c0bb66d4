//! `shakedown demo`: gate the bundled testbed with the embedded demo plan
//! (`examples/demo.toml`). No setup, no network beyond 127.0.0.1: the plan declares the testbed's
//! API and workers as `process` targets, so shakedown starts, faults and stops them itself; this
//! module only supplies the variables the plan reads (this executable, a free port, a temporary
//! data directory, fresh credentials, and the defects).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use anyhow::Context as _;

use shakedown_plan::model::Plan;

/// The demo plan, embedded so that the demo runs from any directory.
pub const DEMO_PLAN: &str = include_str!("../../../examples/demo.toml");

/// The variables of one demo run, and the data directory it owns.
pub struct Demo {
    vars: BTreeMap<&'static str, String>,
    data_dir: PathBuf,
}

impl Demo {
    /// Prepare a demo: check the defects, pick a free loopback port, create a data directory
    /// and fresh credentials. `workers` must be 2: the demo plan declares two worker targets.
    pub async fn start(defects: &[String], workers: u32) -> anyhow::Result<Demo> {
        for defect in defects {
            testbed::defects::Defect::from_str(defect).map_err(anyhow::Error::new)?;
        }
        if workers != 2 {
            anyhow::bail!(
                "the demo plan declares two worker targets (worker-0, worker-1); --workers {workers} is not supported"
            );
        }
        let exe = std::env::current_exe().context("cannot find the shakedown executable")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free loopback port")?
            .port();
        let data_dir =
            std::env::temp_dir().join(format!("shakedown-demo-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let fresh = |prefix: &str| format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        let vars = BTreeMap::from([
            ("SHAKEDOWN_EXE", exe.display().to_string()),
            ("SHAKEDOWN_API_LISTEN", format!("127.0.0.1:{port}")),
            ("SHAKEDOWN_API_URL", format!("http://127.0.0.1:{port}")),
            ("SHAKEDOWN_DEMO_DATA", data_dir.display().to_string()),
            ("SHAKEDOWN_DEMO_DEFECTS", defects.join(",")),
            ("TESTBED_OPS_KEY", fresh("demo-ops")),
            ("TESTBED_PASSWORD", fresh("demo-pw")),
            ("TESTBED_JWT_SECRET", fresh("demo-jwt")),
        ]);
        Ok(Demo { vars, data_dir })
    }

    /// The demo plan, compiled with this demo's variables.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let lookup = |name: &str| match self.vars.get(name) {
            Some(value) => Some(value.clone()),
            None => std::env::var(name).ok(),
        };
        shakedown_plan::compile_str(DEMO_PLAN, Path::new("examples/demo.toml"), &lookup)
            .map_err(|errors| anyhow::anyhow!("the embedded demo plan is not valid: {errors}"))
    }

    /// Remove the data directory (the run has stopped the processes by now).
    pub async fn stop(self) {
        if let Err(e) = std::fs::remove_dir_all(&self.data_dir) {
            tracing::debug!(error = %e, "cannot remove {}", self.data_dir.display());
        }
    }
}
