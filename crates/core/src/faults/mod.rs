//! Faults (DESIGN section 5): real restarts, kills and pauses, proven, always reverted, and
//! measured.
//!
//! - [`Driver`] is the one trait every driver implements ([`drivers`]: process, exec, http,
//!   railway), each call under the control's timeout;
//! - [`journal`]: `faults.jsonl`, an intent fsynced before each fault, then applied, reverted,
//!   confirmed; [`reconcile`] replays what a dead run left behind, and [`guard`] is the detached
//!   process that resumes a paused target at its TTL even if shakedown is killed;
//! - [`runner`]: one fault test (background load, timeline, recovery observation, revert);
//! - [`proof`]: identities before and after; [`recovery`]: time to recover, availability,
//!   outage and drain; [`judge`]: the fault check's status;
//! - [`safety`]: production, the kill file and stop conditions.

pub mod drivers;
pub mod dry_run;
pub mod fault_seconds;
pub mod guard;
pub mod journal;
pub mod judge;
pub mod observe;
pub mod probe;
pub mod proof;
pub mod proxy_faults;
pub mod reconcile;
pub mod recovery;
pub mod runner;
pub mod safety;
pub mod targets;
mod timeline;
pub mod undo;

use std::time::Duration;

use futures::future::BoxFuture;

use journal::Revert;
use shakedown_plan::model::ControlVerb;

/// What a driver call returns: the future of its result.
pub type DriverFuture<'a, T> = BoxFuture<'a, Result<T, DriverError>>;

/// Evidence that a driver action happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// What was observed, in words (`pid 4242 exited: signal 9`).
    pub detail: String,
    /// Whether the action itself proves the fault (an observed exit status, a stopped state).
    pub self_proven: bool,
}

impl Applied {
    /// Evidence that proves the fault by itself.
    pub fn proven(detail: impl Into<String>) -> Applied {
        Applied {
            detail: detail.into(),
            self_proven: true,
        }
    }

    /// Evidence that the action was accepted, which proves nothing yet.
    pub fn accepted(detail: impl Into<String>) -> Applied {
        Applied {
            detail: detail.into(),
            self_proven: false,
        }
    }
}

/// Why a driver call failed. Every variant makes the fault check BLOCKED.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DriverError {
    /// The driver cannot do this.
    #[error("the {driver} driver cannot {verb}")]
    Unsupported {
        /// The driver.
        driver: &'static str,
        /// The action.
        verb: &'static str,
    },
    /// A command or process could not be run, or failed.
    #[error("{0}")]
    Failed(String),
    /// The call did not finish in time.
    #[error("{what} did not finish within {}", humantime::format_duration(*.after))]
    Timeout {
        /// What hung.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// A credential was missing or rejected.
    #[error("{what}")]
    Credentials {
        /// What was rejected.
        what: String,
        /// How to fix it.
        hint: String,
    },
}

impl DriverError {
    /// How to fix it, in words.
    pub fn hint(&self) -> String {
        match self {
            DriverError::Unsupported { .. } => {
                "give the target's control the action this fault needs".to_string()
            }
            DriverError::Failed(_) => {
                "check the target's control: the command, URL or process it names".to_string()
            }
            DriverError::Timeout { .. } => {
                "the driver hung: check that the command returns, or raise control.timeout"
                    .to_string()
            }
            DriverError::Credentials { hint, .. } => hint.clone(),
        }
    }
}

/// One target's fault driver. Every call is bounded by the caller with the control's timeout.
pub trait Driver: Send + Sync {
    /// The driver's name (`process`, `exec`, `http`, `railway`).
    fn kind(&self) -> &'static str;
    /// Start the target.
    fn start(&self) -> DriverFuture<'_, Applied>;
    /// Stop it gracefully.
    fn stop(&self) -> DriverFuture<'_, Applied>;
    /// Send it a signal (`KILL`, `TERM`, ...).
    fn kill(&self, signal: &str) -> DriverFuture<'_, Applied>;
    /// Freeze it.
    fn pause(&self) -> DriverFuture<'_, Applied>;
    /// Unfreeze it.
    fn resume(&self) -> DriverFuture<'_, Applied>;
    /// Stop and start it.
    fn restart(&self) -> DriverFuture<'_, Applied>;
    /// The driver's own identity of the target (a PID, a deployment id), if it has one.
    fn identity(&self) -> DriverFuture<'_, Option<String>>;
    /// Check, before any load, that the driver can act (credentials, commands).
    fn preflight(&self) -> DriverFuture<'_, String>;
    /// How to undo `verb` from another process (the journal's recipe), computed before the
    /// action is applied.
    fn revert_recipe(&self, verb: ControlVerb) -> Revert;
    /// For a supervised process: whether it is up and ready. None when the driver cannot tell.
    fn up(&self) -> Option<bool> {
        None
    }
    /// For a supervised process: whether it is up and ready now, by its readiness form when
    /// that can be asked again (a `ready.command` is run). The recovery probe of a target
    /// without HTTP.
    fn up_now(&self) -> BoxFuture<'_, Option<bool>> {
        let up = self.up();
        Box::pin(async move { up })
    }
    /// For a supervised process: the first line it printed on stdout, as JSON.
    fn first_line(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Run `call` under `timeout`, turning a hang into [`DriverError::Timeout`].
pub async fn bounded<T>(
    what: &str,
    timeout: Duration,
    call: DriverFuture<'_, T>,
) -> Result<T, DriverError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(DriverError::Timeout {
            what: what.to_string(),
            after: timeout,
        }),
    }
}

/// Perform `verb` on `driver` (`signal` for kill).
pub fn act<'a>(
    driver: &'a dyn Driver,
    verb: ControlVerb,
    signal: &str,
) -> DriverFuture<'a, Applied> {
    match verb {
        ControlVerb::Start => driver.start(),
        ControlVerb::Stop => driver.stop(),
        ControlVerb::Kill => driver.kill(signal),
        ControlVerb::Pause => driver.pause(),
        ControlVerb::Resume => driver.resume(),
        ControlVerb::Restart => driver.restart(),
    }
}
