//! Run events, persisted so that an SSE stream can resume across an API restart.

use sqlx::Row;

use super::{Store, StoreError};
use crate::clock::now_ms_i64;

/// One persisted run event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The per-run, monotonically increasing id.
    pub seq: i64,
    /// The event type (`run_started`, `progress`, ...).
    pub kind: String,
    /// The JSON payload.
    pub data: String,
}

impl Store {
    /// Append an event. An event with the same run, type and step is written only once, so a
    /// re-claimed run does not repeat the events its first worker wrote.
    pub async fn append_event(
        &self,
        run_id: &str,
        kind: &str,
        step: i64,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.guard()?;
        // `WHERE` before `ON CONFLICT` keeps SQLite from reading `ON` as a join constraint.
        sqlx::query(
            "INSERT INTO run_events (run_id, seq, kind, step, data, created_at)
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM run_events WHERE run_id = $1
             ON CONFLICT DO NOTHING",
        )
        .bind(run_id)
        .bind(kind)
        .bind(step)
        .bind(data.to_string())
        .bind(now_ms_i64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` events of a run with an id above `after`, in order.
    pub async fn events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.guard()?;
        let rows = sqlx::query(
            "SELECT seq, kind, data FROM run_events
             WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    kind: row.try_get("kind")?,
                    data: row.try_get("data")?,
                })
            })
            .collect()
    }
}
