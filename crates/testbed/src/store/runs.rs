//! Runs: idempotent creation, reads, leased claims, heartbeats and completion.
//!
//! Besides the four public statuses, the `status` column may hold [`UNDISPATCHED`] (the
//! `commit-then-500` defect): such a run reads as `queued` everywhere but is never claimed.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::clock::now_ms_i64;
use crate::run::{RunKind, RunRecord, RunStatus};

const RUN_COLUMNS: &str = "id, idem_key, kind, params, status, attempts, completed_by, \
     created_at, updated_at, \
     (SELECT COUNT(*) FROM run_results r WHERE r.run_id = runs.id) AS result_count";

/// The stored status of a run that was committed but never dispatched (`commit-then-500`): it
/// reads as [`RunStatus::Queued`], counts as queued, and the claim query skips it.
pub const UNDISPATCHED: &str = "undispatched";

/// Counts of unfinished runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Runs waiting for a worker.
    pub queued: i64,
    /// Runs held by a worker.
    pub running: i64,
}

fn decode_run(row: &AnyRow) -> Result<RunRecord, StoreError> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let params: String = row.try_get("params")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        key: row.try_get("idem_key")?,
        kind: kind
            .parse::<RunKind>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        params: serde_json::from_str(&params).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: if status == UNDISPATCHED {
            RunStatus::Queued
        } else {
            status
                .parse::<RunStatus>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
        },
        attempts: row.try_get("attempts")?,
        completed_by: row.try_get("completed_by")?,
        result_count: row.try_get("result_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Insert `run` unless a run with its key exists. Returns the stored run for the key and
    /// whether this call created it. There is never a second run for one key.
    pub async fn insert_run(&self, run: &RunRecord) -> Result<(RunRecord, bool), StoreError> {
        self.insert_with_status(run, RunStatus::Queued.as_str())
            .await
    }

    /// Like [`Store::insert_run`], but a created run is stored [`UNDISPATCHED`]: it reads as
    /// queued and no worker ever claims it (the `commit-then-500` defect).
    pub async fn insert_undispatched_run(
        &self,
        run: &RunRecord,
    ) -> Result<(RunRecord, bool), StoreError> {
        self.insert_with_status(run, UNDISPATCHED).await
    }

    async fn insert_with_status(
        &self,
        run: &RunRecord,
        status: &str,
    ) -> Result<(RunRecord, bool), StoreError> {
        self.guard()?;
        let inserted = sqlx::query(
            "INSERT INTO runs (id, idem_key, kind, params, status, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6)
             ON CONFLICT (idem_key) DO NOTHING",
        )
        .bind(&run.id)
        .bind(&run.key)
        .bind(run.kind.as_str())
        .bind(run.params.to_string())
        .bind(status)
        .bind(run.created_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let mut stored = self.runs_by_key(&run.key).await?;
        match stored.pop() {
            Some(existing) => Ok((existing, inserted == 1)),
            None => Err(StoreError::Corrupt(format!(
                "run with key {:?} vanished after insert",
                run.key
            ))),
        }
    }

    /// The run with this id.
    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.guard()?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode_run).transpose()
    }

    /// Every run with this idempotency key (at most one, by construction).
    pub async fn runs_by_key(&self, key: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.guard()?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE idem_key = $1 ORDER BY created_at");
        let rows = sqlx::query(&sql).bind(key).fetch_all(&self.pool).await?;
        rows.iter().map(decode_run).collect()
    }

    /// Claim the oldest claimable run for `owner` with a lease until `lease_until` (epoch ms).
    /// Queued runs are claimable; so are running ones whose lease expired, unless
    /// `expired_leases` is false (the `stuck-on-restart` defect).
    pub async fn claim_run(
        &self,
        owner: &str,
        lease_until: i64,
        expired_leases: bool,
    ) -> Result<Option<RunRecord>, StoreError> {
        self.guard()?;
        let claimable = if expired_leases {
            "(status = 'queued' OR (status = 'running' AND lease_until < $3))"
        } else {
            "(status = 'queued')"
        };
        // A read first: an idle worker must not take SQLite's write lock every poll.
        let probe = if expired_leases {
            sqlx::query(
                "SELECT id FROM runs
                 WHERE status = 'queued' OR (status = 'running' AND lease_until < $1) LIMIT 1",
            )
            .bind(now_ms_i64())
        } else {
            sqlx::query("SELECT id FROM runs WHERE status = 'queued' LIMIT 1")
        };
        let any = probe.fetch_optional(&self.pool).await?;
        if any.is_none() {
            return Ok(None);
        }
        // The outer condition is re-checked by Postgres on the locked row, so two workers that
        // picked the same id cannot both claim it.
        let sql = format!(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, lease_owner = $1,
                 lease_until = $2, updated_at = $3
             WHERE id = (SELECT id FROM runs WHERE {claimable} ORDER BY created_at, id LIMIT 1)
               AND {claimable}
             RETURNING id"
        );
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(lease_until)
            .bind(now_ms_i64())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let id: String = row.try_get("id")?;
                self.get_run(&id).await
            }
            None => Ok(None),
        }
    }

    /// Extend `owner`'s lease on a running run. False when the lease was lost.
    pub async fn extend_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        self.guard()?;
        let updated = sqlx::query(
            "UPDATE runs SET lease_until = $1
             WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(lease_until)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Give a run back to the queue, if `owner` still holds it (a worker stopping cleanly).
    pub async fn release_run(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.guard()?;
        sqlx::query(
            "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL,
                 updated_at = $1
             WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(now_ms_i64())
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record `worker`'s completion result. Idempotent unless `idempotent` is false (the
    /// `duplicate-results` defect), when every call adds a result.
    pub async fn record_result(
        &self,
        id: &str,
        worker: &str,
        idempotent: bool,
    ) -> Result<(), StoreError> {
        self.guard()?;
        let sql = if idempotent {
            "INSERT INTO run_results (run_id, ordinal, worker, created_at)
             VALUES ($1, 0, $2, $3) ON CONFLICT DO NOTHING"
        } else {
            "INSERT INTO run_results (run_id, ordinal, worker, created_at)
             SELECT $1, COALESCE(MAX(ordinal) + 1, 0), $2, $3 FROM run_results WHERE run_id = $1"
        };
        sqlx::query(sql)
            .bind(id)
            .bind(worker)
            .bind(now_ms_i64())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Mark a run terminal. A completed run is attributed to the worker of its first result.
    /// Terminal runs are left as they are.
    pub async fn finish_run(&self, id: &str, status: RunStatus) -> Result<(), StoreError> {
        self.guard()?;
        sqlx::query(
            "UPDATE runs SET status = $1, lease_owner = NULL, lease_until = NULL, updated_at = $2,
                 completed_by = (SELECT worker FROM run_results r
                                 WHERE r.run_id = runs.id ORDER BY ordinal LIMIT 1)
             WHERE id = $3 AND status NOT IN ('completed', 'failed')",
        )
        .bind(status.as_str())
        .bind(now_ms_i64())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many runs are queued (undispatched ones included) and running.
    pub async fn queue_counts(&self) -> Result<QueueCounts, StoreError> {
        self.guard()?;
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM runs
             WHERE status IN ('queued', 'undispatched', 'running') GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut counts = QueueCounts::default();
        for row in rows {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            match status.as_str() {
                "running" => counts.running = n,
                _ => counts.queued += n,
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outage::DbOutage;

    fn run(id: &str, key: &str, created_at: i64) -> RunRecord {
        RunRecord {
            id: id.into(),
            key: key.into(),
            kind: RunKind::Export,
            params: serde_json::json!({}),
            status: RunStatus::Queued,
            attempts: 0,
            completed_by: None,
            result_count: 0,
            created_at,
            updated_at: created_at,
        }
    }

    #[tokio::test]
    async fn an_undispatched_run_reads_as_queued_but_is_never_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::Settings::default_database_url(dir.path());
        let store = Store::open(&url, DbOutage::new(dir.path())).await.unwrap();
        let (stuck, created) = store
            .insert_undispatched_run(&run("stuck", "k-stuck", 1))
            .await
            .unwrap();
        assert!(created);
        assert_eq!(stuck.status, RunStatus::Queued);
        let (again, created) = store.insert_run(&run("other", "k-stuck", 2)).await.unwrap();
        assert_eq!((again.id.as_str(), created), ("stuck", false));
        let by_id = store.get_run("stuck").await.unwrap().unwrap();
        assert_eq!(by_id.status, RunStatus::Queued);
        let by_key = store.runs_by_key("k-stuck").await.unwrap();
        assert_eq!(by_key[0].status, RunStatus::Queued);
        assert_eq!(
            store.queue_counts().await.unwrap(),
            QueueCounts {
                queued: 1,
                running: 0
            }
        );
        assert_eq!(store.claim_run("w", i64::MAX, true).await.unwrap(), None);
        // The clean twin: a run inserted normally (and later) is claimed.
        store.insert_run(&run("fine", "k-fine", 3)).await.unwrap();
        assert_eq!(
            store.queue_counts().await.unwrap(),
            QueueCounts {
                queued: 2,
                running: 0
            }
        );
        let claimed = store.claim_run("w", i64::MAX, true).await.unwrap().unwrap();
        assert_eq!(claimed.id, "fine");
        assert_eq!(store.claim_run("w", i64::MAX, true).await.unwrap(), None);
        let stuck = store.get_run("stuck").await.unwrap().unwrap();
        assert_eq!((stuck.status, stuck.attempts), (RunStatus::Queued, 0));
        store.close().await;
    }
}
