//! Control: how a change of toxics is applied under a deadline, and the TTL reaper.
//!
//! A change is published at once (it replaces the toxic set; nothing waits for data). Control
//! then waits until the listener and every connection open at that moment have taken it up, or
//! until the deadline: connections that have not taken it up by then are closed (the fallback),
//! so a change always takes effect and control always returns on time.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::counters::ToxicEnd;
use super::shared::Shared;

/// What waiting for a change found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled {
    /// Connections that were open when the change was published.
    pub connections: usize,
    /// Connections closed because they had not taken the change up by the deadline.
    pub fallback_closed: usize,
    /// Whether the listener took the change up.
    pub listener: bool,
}

/// Wait until `version` is taken up by every connection (and by the listener if `wait_listener`:
/// only `down` concerns it), or until `deadline`; then close the stragglers.
pub(crate) async fn settle(
    shared: &Shared,
    version: u64,
    deadline: Instant,
    wait_listener: bool,
) -> Settled {
    let conns = shared.registry.snapshot();
    loop {
        let notified = shared.registry.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let pending: Vec<_> = conns.iter().filter(|c| !c.acked(version)).collect();
        let listener = !wait_listener || shared.registry.listener_acked(version);
        if pending.is_empty() && listener {
            return Settled {
                connections: conns.len(),
                fallback_closed: 0,
                listener,
            };
        }
        tokio::select! {
            () = &mut notified => {}
            () = sleep_until(deadline) => {
                for conn in &pending {
                    conn.close.cancel();
                }
                shared.counters.fallback_closed.add(pending.len() as u64);
                return Settled {
                    connections: conns.len(),
                    fallback_closed: pending.len(),
                    listener,
                };
            }
        }
    }
}

/// Remove toxics when their TTL passes, until the proxy shuts down. This runs in the proxy's own
/// runtime, so a toxic expires even if whoever added it is stuck or gone.
pub(crate) async fn reap_expired(shared: Arc<Shared>, deadline: Duration) {
    let mut rx = shared.toxics.subscribe();
    loop {
        let next = rx.borrow_and_update().next_expiry();
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                let (version, removed) =
                    shared.publish_remove(ToxicEnd::Expired, |t| t.expires <= now);
                if !removed.is_empty() {
                    for toxic in &removed {
                        tracing::info!(proxy = %shared.name, toxic = %toxic.spec.name, "toxic expired (TTL)");
                    }
                    let listener = removed.iter().any(|t| t.is_down());
                    settle(&shared, version, Instant::now() + deadline, listener).await;
                }
            }
        }
    }
}
