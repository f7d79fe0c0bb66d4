//! Always undo: the stack of applied faults that still need reverting, and the revert itself.
//! [`Undo::revert_all`] reverts in reverse order under a deadline that cancellation cannot
//! interrupt (it takes no token), journals `reverted`, then checks that the revert took effect
//! and journals `confirmed`. A pause also gets a guard: a detached `shakedown guard` process that
//! replays the journal's recipe at the pause's TTL, unless the journal says it was reverted.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::journal::{Entry, Event, Journal};
use super::targets::Controlled;
use super::{act, bounded};
use shakedown_plan::model::{ControlVerb, Plan};

/// The longest all reverts together may take.
pub const REVERT_DEADLINE: Duration = Duration::from_secs(60);
/// How long after its TTL the guard acts, so that the run's own revert normally comes first.
pub const GUARD_SLACK: Duration = Duration::from_secs(2);

/// A revert that is not a driver verb (removing a proxy toxic): it undoes the fault and says how,
/// which also confirms it, or says why it failed.
#[derive(Clone)]
pub struct CustomRevert(
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<String, String>> + Send + Sync>,
);

impl CustomRevert {
    /// A revert done by `f`.
    pub fn new(
        f: impl Fn() -> futures::future::BoxFuture<'static, Result<String, String>>
        + Send
        + Sync
        + 'static,
    ) -> CustomRevert {
        CustomRevert(Arc::new(f))
    }
}

impl std::fmt::Debug for CustomRevert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomRevert")
    }
}

/// One applied fault that still needs undoing.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The journal key (`C1#2`).
    pub key: String,
    /// The target.
    pub target: String,
    /// The driver verb that undoes it.
    pub undo: ControlVerb,
    /// Set once reverted, with how.
    pub reverted: Option<String>,
    /// How to undo it when it is not a driver verb (`undo` is then unused).
    pub custom: Option<CustomRevert>,
}

/// The run's applied faults, shared by the timeline, its TTL timers and the final revert, so
/// that a panic in the timeline still leaves them to revert.
#[derive(Debug, Clone)]
pub struct Undo {
    stack: Arc<Mutex<Vec<Pending>>>,
    journal: Arc<Journal>,
    controlled: Controlled,
    plan: Arc<Plan>,
    revert_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Undo {
    /// An empty stack.
    pub fn new(journal: Arc<Journal>, controlled: Controlled, plan: Arc<Plan>) -> Undo {
        Undo {
            stack: Arc::new(Mutex::new(Vec::new())),
            journal,
            controlled,
            plan,
            revert_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Pending>) -> T) -> T {
        match self.stack.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Record an applied fault that `undo` reverts.
    pub fn push(&self, key: &str, target: &str, undo: ControlVerb) {
        self.with(|s| {
            s.push(Pending {
                key: key.to_string(),
                target: target.to_string(),
                undo,
                reverted: None,
                custom: None,
            })
        });
    }

    /// Record an applied fault that `revert` undoes (a proxy toxic); `target` names what it is
    /// on (`proxies.NAME`).
    pub fn push_custom(&self, key: &str, target: &str, revert: CustomRevert) {
        self.with(|s| {
            s.push(Pending {
                key: key.to_string(),
                target: target.to_string(),
                undo: ControlVerb::Resume,
                reverted: None,
                custom: Some(revert),
            })
        });
    }

    /// Whether `key` is on the stack (it needed undoing).
    pub fn is_tracked(&self, key: &str) -> bool {
        self.with(|s| s.iter().any(|p| p.key == key))
    }

    /// How the fault `key` was reverted, if it was.
    pub fn reverted(&self, key: &str) -> Option<String> {
        self.with(|s| {
            s.iter()
                .find(|p| p.key == key)
                .and_then(|p| p.reverted.clone())
        })
    }

    /// Mark the faults on `target` that `verb` undoes as reverted by `how` (a restart after a
    /// kill undoes the kill), and journal it.
    pub fn resolved_by(&self, target: &str, verb: ControlVerb, how: &str) {
        let keys: Vec<String> = self.with(|s| {
            s.iter_mut()
                .filter(|p| p.target == target && p.reverted.is_none() && p.custom.is_none())
                .filter(|p| {
                    p.undo == ControlVerb::Start
                        && matches!(verb, ControlVerb::Start | ControlVerb::Restart)
                })
                .map(|p| {
                    p.reverted = Some(how.to_string());
                    p.key.clone()
                })
                .collect()
        });
        for key in keys {
            self.journal_event(&key, Event::Reverted, how);
            self.journal_event(&key, Event::Confirmed, how);
        }
    }

    fn journal_event(&self, key: &str, event: Event, detail: &str) {
        if let Err(e) = self
            .journal
            .append(Entry::new(key, event).detail(detail).by("shakedown"))
        {
            tracing::error!(error = %e, "cannot write the fault journal");
        }
    }

    /// Revert the fault `key` now, if it is still applied.
    pub async fn revert(&self, key: &str) {
        let _lock = self.revert_lock.lock().await;
        let Some(pending) = self.with(|s| {
            s.iter()
                .find(|p| p.key == key && p.reverted.is_none())
                .cloned()
        }) else {
            return;
        };
        let how = self.revert_one(&pending).await;
        self.with(|s| {
            if let Some(p) = s.iter_mut().find(|p| p.key == key) {
                p.reverted = Some(how);
            }
        });
    }

    /// Revert every fault still applied, newest first, within [`REVERT_DEADLINE`].
    pub async fn revert_all(&self) {
        let keys: Vec<String> = self.with(|s| {
            s.iter()
                .rev()
                .filter(|p| p.reverted.is_none())
                .map(|p| p.key.clone())
                .collect()
        });
        let all = async {
            for key in keys {
                self.revert(&key).await;
            }
        };
        if tokio::time::timeout(REVERT_DEADLINE, all).await.is_err() {
            tracing::error!(
                "reverting the applied faults took longer than {REVERT_DEADLINE:?}; run `shakedown reconcile` on the run directory"
            );
        }
    }

    async fn revert_one(&self, p: &Pending) -> String {
        if let Some(custom) = &p.custom {
            return match (custom.0)().await {
                Ok(how) => {
                    self.journal_event(&p.key, Event::Reverted, &how);
                    self.journal_event(&p.key, Event::Confirmed, &how);
                    how
                }
                Err(why) => {
                    tracing::error!(fault = %p.key, error = %why, "a revert failed");
                    format!("revert failed: {why}")
                }
            };
        }
        let Some(control) = self.controlled.get(&p.target) else {
            return "no driver to revert with".to_string();
        };
        let result = bounded(
            &format!("{} {}", p.undo.as_str(), p.target),
            control.timeout,
            act(control.driver.as_ref(), p.undo, ""),
        )
        .await;
        match result {
            Ok(applied) => {
                let how = format!("{} {}: {}", p.undo.as_str(), p.target, applied.detail);
                self.journal_event(&p.key, Event::Reverted, &how);
                match self.confirm(p).await {
                    Ok(seen) => {
                        self.journal_event(&p.key, Event::Confirmed, &seen);
                        format!("{how}; confirmed: {seen}")
                    }
                    Err(why) => format!("{how}; NOT confirmed: {why}"),
                }
            }
            Err(e) => {
                tracing::error!(fault = %p.key, error = %e, "a revert failed");
                format!("revert failed: {e}; run `shakedown reconcile` on the run directory")
            }
        }
    }

    /// Check that a revert took effect: the process is up, or the target's health passes.
    async fn confirm(&self, p: &Pending) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let up = self.controlled.get(&p.target).and_then(|c| c.driver.up());
            let health = self
                .plan
                .targets
                .get(&p.target)
                .filter(|t| !t.base_url.is_empty())
                .and_then(|t| t.health.as_ref());
            let seen = match (up, health) {
                (Some(true), _) => Some(format!("{} is up", p.target)),
                (Some(false), _) => None,
                (None, Some(h)) => {
                    super::probe::healthy(&self.plan, &p.target, h, Duration::from_secs(2))
                        .await
                        .then(|| format!("{} answers its health probe", p.target))
                }
                (None, None) => Some(format!("the {} command succeeded", p.undo.as_str())),
            };
            if let Some(seen) = seen {
                return Ok(seen);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{} did not come back within 10s", p.target));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Start a detached guard that replays the fault's revert at `deadline_ms` (epoch ms), unless
/// the journal says it was reverted by then. It survives shakedown: its own session, no pipes.
pub fn spawn_guard(exe: &PathBuf, journal: &std::path::Path, key: &str, deadline_ms: u64) {
    let spawned = std::process::Command::new(exe)
        .arg("guard")
        .arg("--journal")
        .arg(journal)
        .arg("--fault")
        .arg(key)
        .arg("--deadline-ms")
        .arg(deadline_ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        // Reap it when it exits, so that it never lingers as a zombie of a long run.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::error!(error = %e, "cannot start the pause guard"),
    }
}
