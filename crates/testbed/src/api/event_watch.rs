//! One poller per followed run, shared by every SSE stream of that run: it polls the store for
//! new events and publishes the latest event id on a `watch` channel, so that a thousand readers
//! of one run cost one query per poll instead of a thousand.
//!
//! Workers are separate processes, so the API cannot be told when an event is written; polling
//! is the honest way to learn it. A poller stops when its last reader is gone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::AppState;

/// How often a followed run is polled.
pub const POLL: Duration = Duration::from_millis(100);

/// The pollers of every followed run.
#[derive(Debug, Default)]
pub struct EventWatches {
    runs: Mutex<HashMap<String, (u64, watch::Receiver<i64>)>>,
    next: AtomicU64,
}

impl EventWatches {
    /// A receiver of the latest event id of run `id` (0 before the first event), starting its
    /// poller if no stream follows the run yet. A receiver whose poller stopped reports an
    /// error on `changed()`: the stream then follows again.
    pub fn follow(&self, state: &AppState, id: &str) -> watch::Receiver<i64> {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, rx)) = runs.get(id)
            && rx.has_changed().is_ok()
        {
            return rx.clone();
        }
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let rx = spawn_poller(state.clone(), id.to_string(), token);
        runs.insert(id.to_string(), (token, rx.clone()));
        rx
    }

    fn forget(&self, id: &str, token: u64) {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if runs.get(id).is_some_and(|(t, _)| *t == token) {
            runs.remove(id);
        }
    }
}

fn spawn_poller(state: AppState, id: String, token: u64) -> watch::Receiver<i64> {
    let (tx, rx) = watch::channel(0i64);
    tokio::spawn(async move {
        let mut latest = 0i64;
        // The map holds one receiver: only that one left means no stream follows the run.
        while tx.receiver_count() > 1 {
            if let Ok(batch) = state.store.events_after(&id, latest, 100).await
                && let Some(last) = batch.last()
            {
                latest = last.seq;
                tx.send_replace(latest);
                if batch.len() == 100 {
                    continue;
                }
            }
            tokio::select! {
                () = state.shutdown.cancelled() => break,
                () = tokio::time::sleep(POLL) => {}
            }
        }
        state.watches.forget(&id, token);
    });
    rx
}
