//! Worker registrations and heartbeats, and the chaos request that makes one worker exit.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::clock::now_ms_i64;

/// What a registered worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Working and heartbeating.
    Live,
    /// Asked to exit by `POST /api/v1/ops/chaos/worker-exit`.
    ExitRequested,
    /// Gone.
    Exited,
}

impl WorkerState {
    fn as_str(self) -> &'static str {
        match self {
            WorkerState::Live => "live",
            WorkerState::ExitRequested => "exit-requested",
            WorkerState::Exited => "exited",
        }
    }

    fn parse(s: &str) -> Result<WorkerState, StoreError> {
        match s {
            "live" => Ok(WorkerState::Live),
            "exit-requested" => Ok(WorkerState::ExitRequested),
            "exited" => Ok(WorkerState::Exited),
            other => Err(StoreError::Corrupt(format!(
                "unknown worker state {other:?}"
            ))),
        }
    }
}

/// A registered worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRecord {
    /// The worker's boot id.
    pub boot_id: String,
    /// Its process id.
    pub pid: i64,
    /// When it started, epoch ms.
    pub started_at: i64,
    /// Its last heartbeat, epoch ms.
    pub last_heartbeat: i64,
}

fn decode_worker(row: &AnyRow) -> Result<WorkerRecord, StoreError> {
    Ok(WorkerRecord {
        boot_id: row.try_get("boot_id")?,
        pid: row.try_get("pid")?,
        started_at: row.try_get("started_at")?,
        last_heartbeat: row.try_get("last_heartbeat")?,
    })
}

impl Store {
    /// Register a worker as live.
    pub async fn register_worker(&self, boot_id: &str, pid: u32) -> Result<(), StoreError> {
        self.guard()?;
        let now = now_ms_i64();
        sqlx::query(
            "INSERT INTO workers (boot_id, pid, started_at, last_heartbeat, state)
             VALUES ($1, $2, $3, $3, 'live')",
        )
        .bind(boot_id)
        .bind(i64::from(pid))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record a heartbeat and return the worker's state (to learn of an exit request).
    pub async fn worker_heartbeat(&self, boot_id: &str) -> Result<WorkerState, StoreError> {
        self.guard()?;
        let row = sqlx::query(
            "UPDATE workers SET last_heartbeat = $1 WHERE boot_id = $2 RETURNING state",
        )
        .bind(now_ms_i64())
        .bind(boot_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => WorkerState::parse(&row.try_get::<String, _>("state")?),
            None => Ok(WorkerState::Exited),
        }
    }

    /// Set a worker's state.
    pub async fn set_worker_state(
        &self,
        boot_id: &str,
        state: WorkerState,
    ) -> Result<(), StoreError> {
        self.guard()?;
        sqlx::query("UPDATE workers SET state = $1 WHERE boot_id = $2")
            .bind(state.as_str())
            .bind(boot_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Workers that are live and heartbeated after `since` (epoch ms), oldest first.
    pub async fn live_workers(&self, since: i64) -> Result<Vec<WorkerRecord>, StoreError> {
        self.guard()?;
        let rows = sqlx::query(
            "SELECT boot_id, pid, started_at, last_heartbeat FROM workers
             WHERE state = 'live' AND last_heartbeat > $1 ORDER BY started_at, boot_id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_worker).collect()
    }

    /// Ask the most recently started live worker (heartbeat after `since`) to exit.
    pub async fn request_worker_exit(
        &self,
        since: i64,
    ) -> Result<Option<WorkerRecord>, StoreError> {
        self.guard()?;
        let row = sqlx::query(
            "UPDATE workers SET state = 'exit-requested'
             WHERE boot_id = (SELECT boot_id FROM workers
                              WHERE state = 'live' AND last_heartbeat > $1
                              ORDER BY started_at DESC, boot_id LIMIT 1)
               AND state = 'live'
             RETURNING boot_id, pid, started_at, last_heartbeat",
        )
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode_worker).transpose()
    }
}
