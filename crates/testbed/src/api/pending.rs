//! The `lose-acked` defect: runs are acknowledged from an in-memory buffer and written to the
//! database lazily, and the buffer is not flushed on shutdown, so a restart loses them.

use std::time::Duration;

use tokio::sync::Mutex;

use super::AppState;
use crate::clock::now_ms_i64;
use crate::run::RunRecord;
use crate::store::{Store, StoreError};

/// Flush when this many runs are buffered.
const FLUSH_COUNT: usize = 64;
/// Flush when the oldest buffered run is this old.
const FLUSH_AGE: Duration = Duration::from_secs(15);

/// Acknowledged runs that are not in the database yet.
#[derive(Debug, Default)]
pub struct PendingRuns {
    runs: Mutex<Vec<RunRecord>>,
}

impl PendingRuns {
    /// Accept `run` unless its key is known (buffered or stored). Returns the run for the key
    /// and whether this call created it.
    pub async fn submit(
        &self,
        store: &Store,
        run: RunRecord,
    ) -> Result<(RunRecord, bool), StoreError> {
        let mut runs = self.runs.lock().await;
        if let Some(existing) = runs.iter().find(|r| r.key == run.key) {
            return Ok((existing.clone(), false));
        }
        if let Some(existing) = store.runs_by_key(&run.key).await?.pop() {
            return Ok((existing, false));
        }
        runs.push(run.clone());
        Ok((run, true))
    }

    /// A buffered run by id.
    pub async fn get(&self, id: &str) -> Option<RunRecord> {
        self.runs.lock().await.iter().find(|r| r.id == id).cloned()
    }

    /// A buffered run by key.
    pub async fn by_key(&self, key: &str) -> Option<RunRecord> {
        self.runs
            .lock()
            .await
            .iter()
            .find(|r| r.key == key)
            .cloned()
    }

    /// How many runs are buffered.
    pub async fn len(&self) -> usize {
        self.runs.lock().await.len()
    }

    async fn flush_if_due(&self, store: &Store) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().await;
        let oldest = runs.iter().map(|r| r.created_at).min();
        let age_due = oldest.is_some_and(|t| now_ms_i64() - t >= FLUSH_AGE.as_millis() as i64);
        if runs.len() < FLUSH_COUNT && !age_due {
            return Ok(());
        }
        while let Some(run) = runs.first() {
            store.insert_run(run).await?;
            runs.remove(0);
        }
        Ok(())
    }
}

/// Flush the buffer now and then, until shutdown (and never on shutdown).
pub async fn flush_lazily(state: AppState) {
    let Some(pending) = &state.pending else {
        return;
    };
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Err(err) = pending.flush_if_due(&state.store).await {
            tracing::warn!(error = %err, "flushing acknowledged runs failed");
        }
    }
}
