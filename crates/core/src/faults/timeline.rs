//! The timeline of one fault test: each entry fired in order (at an offset, after the previous
//! one, or when a gauge's condition holds), each fault applied through its driver with its intent
//! journaled first, and what each one did recorded for the proof.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::journal::{Entry, Event};
use super::observe::Shared;
use super::proof::read_identity;
use super::runner::FaultEnv;
use super::undo::{GUARD_SLACK, Undo, spawn_guard};
use super::{Applied, DriverError, act, bounded};
use crate::report::fault::FaultRecord;
use shakedown_plan::model::{ControlVerb, FaultAction, FaultTest, Trigger};

/// How often a `when` condition is checked.
const WHEN_POLL: Duration = Duration::from_millis(50);

/// Now, as RFC 3339 with milliseconds, for the records.
pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn epoch_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// One fired (or failed) timeline entry, before the proof.
pub(super) struct Fired {
    pub(super) record: FaultRecord,
    pub(super) applied: Option<Applied>,
    pub(super) applied_ms: f64,
}

/// The timeline of one fault test as it fires, with what it needs to fire and prove each entry.
pub(super) struct Timeline<'a> {
    pub(super) env: &'a FaultEnv,
    pub(super) test: &'a FaultTest,
    pub(super) started: Instant,
    pub(super) shared: Shared,
    pub(super) undo: Undo,
    pub(super) cancel: CancellationToken,
    pub(super) load_done: CancellationToken,
}

impl Timeline<'_> {
    fn ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Fire every entry in order; stop at a driver failure or cancellation.
    pub(super) async fn run(self) -> (Vec<Fired>, Option<(String, String)>) {
        let mut fired = Vec::new();
        let mut previous = self.started;
        for (index, entry) in self.test.timeline.iter().enumerate() {
            let due = match &entry.trigger {
                Trigger::At(at) => Some((self.started + *at).max(previous)),
                Trigger::After(after) => Some(previous + *after),
                Trigger::When { .. } => None,
            };
            let ready = match (due, &entry.trigger) {
                (Some(due), _) => tokio::select! {
                    _ = tokio::time::sleep_until(due) => true,
                    _ = self.cancel.cancelled() => false,
                },
                (
                    None,
                    Trigger::When {
                        gauge, op, value, ..
                    },
                ) => loop {
                    if self
                        .shared
                        .latest(gauge)
                        .is_some_and(|v| op.holds(v, *value))
                    {
                        break true;
                    }
                    // The work the load started may still be running after the load itself
                    // finished: keep watching for up to the recovery deadline.
                    let gave_up = self.load_done.is_cancelled()
                        && self.started.elapsed() >= self.test.recovery.within;
                    if self.cancel.is_cancelled() || gave_up {
                        break false;
                    }
                    tokio::time::sleep(WHEN_POLL).await;
                },
                (None, _) => true,
            };
            if !ready {
                if let Trigger::When { source, .. } = &entry.trigger
                    && !self.cancel.is_cancelled()
                {
                    fired.push(Fired {
                        record: FaultRecord {
                            index: index as u32,
                            action: entry.action.describe(),
                            target: entry.action.target().map(str::to_string),
                            method: "not injected".into(),
                            proof: format!("`{source}` never held: the fault was not injected"),
                            ..FaultRecord::default()
                        },
                        applied: None,
                        applied_ms: self.ms(),
                    });
                }
                break;
            }
            match self.fire(index, &entry.action).await {
                Ok(f) => {
                    previous = Instant::now();
                    fired.push(f);
                }
                Err((f, reason, hint)) => {
                    fired.push(f);
                    self.undo.revert_all().await;
                    return (fired, Some((reason, hint)));
                }
            }
        }
        (fired, None)
    }

    /// Journal the intent, apply the action, journal the outcome.
    async fn fire(
        &self,
        index: usize,
        action: &FaultAction,
    ) -> Result<Fired, (Fired, String, String)> {
        let key = format!("{}#{index}", self.test.id);
        let plan = &self.env.load.plan;
        let target = action.target().map(str::to_string);
        let verb = action.verb();
        let control = target.as_deref().and_then(|t| self.env.controlled.get(t));
        let identity_before = match (&target, verb) {
            (Some(t), Some(_)) => read_identity(plan, t, &self.env.controlled)
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let mut intent = Entry::new(&key, Event::Intent).by("shakedown");
        intent.target = target.clone();
        intent.action = Some(action.describe());
        intent.owner = Some(self.env.load.run_id.clone());
        intent.revert = Some(match (verb, control) {
            (Some(v), Some(c)) => c.driver.revert_recipe(v),
            _ => super::journal::Revert::Nothing {
                why: match action {
                    FaultAction::Request { .. } => "the endpoint's fault expires by itself".into(),
                    _ => "nothing to undo".into(),
                },
            },
        });
        if let FaultAction::Pause { ttl, .. } = action {
            intent.deadline_ms = Some(epoch_ms() + u64::try_from(ttl.as_millis()).unwrap_or(0));
        }
        if let FaultAction::Toxic { ttl, .. } = action {
            // The proxy lives in this process: its toxics end with it, and expire at their TTL.
            intent.revert = Some(super::journal::Revert::InProcess {
                verb: "remove the toxic".into(),
            });
            intent.deadline_ms = Some(epoch_ms() + u64::try_from(ttl.as_millis()).unwrap_or(0));
        }
        let deadline_ms = intent.deadline_ms;
        let injected_ms = self.ms();
        let mut record = FaultRecord {
            index: index as u32,
            action: action.describe(),
            target: target.clone(),
            identity_before,
            injected_at: Some(now_rfc3339()),
            injected_ms: Some(injected_ms),
            ..FaultRecord::default()
        };
        if let Err(e) = self.env.journal.append(intent) {
            let reason = format!(
                "cannot write the fault journal before {}: {e}",
                action.describe()
            );
            record.method = "not injected".into();
            record.proof = reason.clone();
            return Err((
                Fired {
                    record,
                    applied: None,
                    applied_ms: injected_ms,
                },
                reason,
                "check that the run directory is writable".into(),
            ));
        }
        if let (Some(exe), Some(deadline), FaultAction::Pause { .. }) =
            (&self.env.guard_exe, deadline_ms, action)
        {
            let slack = u64::try_from(GUARD_SLACK.as_millis()).unwrap_or(0);
            spawn_guard(exe, self.env.journal.path(), &key, deadline + slack);
        }
        let result: Result<Applied, DriverError> = match (action, verb, control) {
            (FaultAction::Heal, _, _) => {
                self.undo.revert_all().await;
                Ok(Applied::proven("every applied fault was reverted"))
            }
            (
                FaultAction::Request {
                    target,
                    probe,
                    line,
                },
                _,
                _,
            ) => {
                let timeout = plan
                    .targets
                    .get(target)
                    .map_or(Duration::from_secs(30), |t| t.request_timeout);
                match super::probe::send(plan, target, probe, timeout).await {
                    Ok(reply) if probe.expect_status.contains(reply.status) => Ok(
                        Applied::accepted(format!("{line} answered {}", reply.status)),
                    ),
                    Ok(reply) if reply.status == 401 || reply.status == 403 => {
                        Err(DriverError::Credentials {
                            what: format!("{line} was rejected ({})", reply.status),
                            hint: super::drivers::http::credential_hint(plan, target),
                        })
                    }
                    Ok(reply) => Err(DriverError::Failed(format!(
                        "{line} answered {}",
                        reply.status
                    ))),
                    Err(e) => Err(DriverError::Failed(e)),
                }
            }
            (FaultAction::Toxic { proxy, spec, ttl }, _, _) => {
                super::proxy_faults::apply(&self.env.proxies, &key, proxy, spec, *ttl).await
            }
            (_, Some(verb), Some(control)) => {
                let signal = match action {
                    FaultAction::Kill { signal, .. } => signal.as_str(),
                    _ => "",
                };
                bounded(
                    &action.describe(),
                    control.timeout,
                    act(control.driver.as_ref(), verb, signal),
                )
                .await
            }
            _ => Err(DriverError::Failed(format!(
                "{} has no driver",
                action.describe()
            ))),
        };
        let applied_ms = self.ms();
        let kind = match action {
            FaultAction::Toxic { .. } => "proxy",
            _ => control.map_or("http", |c| c.driver.kind()),
        };
        match result {
            Ok(applied) => {
                let _ = self.env.journal.append(
                    Entry::new(&key, Event::Applied)
                        .detail(applied.detail.clone())
                        .by("shakedown"),
                );
                record.method = format!("{kind}: {}", applied.detail);
                if let FaultAction::Toxic { proxy, ttl, .. } = action {
                    super::proxy_faults::track(&self.undo, &self.env.proxies, &key, proxy, *ttl);
                }
                if let (Some(t), Some(v)) = (&target, verb) {
                    match v {
                        ControlVerb::Pause => {
                            self.undo.push(&key, t, ControlVerb::Resume);
                            if let FaultAction::Pause { ttl, .. } = action {
                                let (undo, key, ttl) = (self.undo.clone(), key.clone(), *ttl);
                                tokio::spawn(async move {
                                    tokio::time::sleep(ttl).await;
                                    undo.revert(&key).await;
                                });
                            }
                        }
                        ControlVerb::Kill | ControlVerb::Stop => {
                            self.undo.push(&key, t, ControlVerb::Start)
                        }
                        ControlVerb::Restart | ControlVerb::Start => {
                            self.undo
                                .resolved_by(t, v, &format!("{} ({key})", action.describe()))
                        }
                        ControlVerb::Resume => {}
                    }
                }
                Ok(Fired {
                    record,
                    applied: Some(applied),
                    applied_ms,
                })
            }
            Err(e) => {
                let _ = self.env.journal.append(
                    Entry::new(&key, Event::Failed)
                        .detail(e.to_string())
                        .by("shakedown"),
                );
                if let (Some(t), Some(v)) = (&target, verb) {
                    // A half-done action may still have changed something: undo it like a success.
                    match v {
                        ControlVerb::Pause => self.undo.push(&key, t, ControlVerb::Resume),
                        ControlVerb::Kill | ControlVerb::Stop | ControlVerb::Restart => {
                            self.undo.push(&key, t, ControlVerb::Start)
                        }
                        _ => {}
                    }
                }
                record.method = format!("{kind}: failed");
                record.proof = format!("the driver failed: {e}");
                let reason = format!("{} failed: {e}", action.describe());
                Err((
                    Fired {
                        record,
                        applied: None,
                        applied_ms,
                    },
                    reason,
                    e.hint(),
                ))
            }
        }
    }
}
