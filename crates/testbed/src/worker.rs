//! A worker process: it claims queued runs with a lease, heartbeats, works in steps, writes the
//! run's events and package, and completes the run idempotently.
//!
//! Completion is delivered at least once: every fourth completion is sent twice, as a queue
//! consumer does after an acknowledgement timeout. Idempotent completion absorbs the repeat; the
//! `duplicate-results` defect records it as a second result, deterministically.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::artifacts::{ArtifactError, ArtifactStore};
use crate::boot_info::{BootInfo, BootInfoKey};
use crate::clock::{now_ms_i64, rfc3339_ms};
use crate::config::Settings;
use crate::defects::Defect;
use crate::outage::DbOutage;
use crate::package;
use crate::run::{RunRecord, RunStatus, artifact_prefix};
use crate::store::{Store, StoreError, WorkerState};

/// A run claimed more often than this fails instead of running again.
pub const MAX_ATTEMPTS: i64 = 10;
/// Every this-many-th completion is delivered twice.
pub const REDELIVERY_PERIOD: u64 = 4;
/// With `wrong-bucket`, every this-many-th package goes to the other bucket.
pub const WRONG_BUCKET_PERIOD: u64 = 5;
/// How long an idle worker waits before looking for work again.
const IDLE_POLL: Duration = Duration::from_millis(25);
/// How long a worker waits after a failed database call.
const ERROR_BACKOFF: Duration = Duration::from_millis(200);

/// Why processing one run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A database call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the package failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Another worker took the run over.
    #[error("lost the lease on run {0}")]
    LeaseLost(String),
}

/// One worker's identity, stores and counters.
#[derive(Debug)]
struct Worker {
    settings: Settings,
    store: Store,
    artifacts: ArtifactStore,
    boot_id: String,
    current: Mutex<Option<String>>,
    lease_lost: AtomicBool,
    completions: AtomicU64,
    packages: AtomicU64,
}

/// The heartbeat interval for a lease: a quarter of it, between 25 ms and 1 s.
pub fn heartbeat_interval(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(25), Duration::from_secs(1))
}

/// Run a worker until `shutdown`, or until the chaos endpoint asks it to exit (an error).
/// `index` is the worker's place in its stack, if it has one; it names its Redis boot-info key.
pub async fn run(
    settings: Settings,
    index: Option<usize>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url, DbOutage::new(&settings.data_dir))
        .await
        .with_context(|| format!("opening {}", settings.redacted_database_url()))?;
    let artifacts = ArtifactStore::open(&settings).context("opening the artifact store")?;
    let boot_id = uuid::Uuid::new_v4().to_string();
    let started_at = rfc3339_ms(now_ms_i64());
    loop {
        match store.register_worker(&boot_id, std::process::id()).await {
            Ok(()) => break,
            Err(err) if err.is_unavailable() && !shutdown.is_cancelled() => {
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
            Err(err) => return Err(err).context("registering the worker"),
        }
    }
    let boot_key = match &settings.redis_url {
        Some(url) => {
            let info = BootInfo {
                boot_id: boot_id.clone(),
                pid: std::process::id(),
                started_at,
                index,
            };
            match BootInfoKey::publish(url, &info).await {
                Ok(key) => Some(key),
                Err(err) => {
                    let _ = store.set_worker_state(&boot_id, WorkerState::Exited).await;
                    store.close().await;
                    return Err(err).context("publishing the worker's boot info (--redis-url)");
                }
            }
        }
        None => None,
    };
    crate::jsonl::write_line(&serde_json::json!({
        "boot_id": boot_id,
        "pid": std::process::id(),
    }))?;
    let worker = Arc::new(Worker {
        settings,
        store,
        artifacts,
        boot_id,
        current: Mutex::new(None),
        lease_lost: AtomicBool::new(false),
        completions: AtomicU64::new(0),
        packages: AtomicU64::new(0),
    });
    let exit_requested = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(
        Arc::clone(&worker),
        exit_requested.clone(),
        shutdown.clone(),
    ));
    let stop_refresh = CancellationToken::new();
    let refresh = boot_key.map(|key| {
        let every = heartbeat_interval(worker.settings.lease);
        tokio::spawn(key.keep_fresh(every, stop_refresh.clone()))
    });
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = exit_requested.cancelled() => {}
        () = work(&worker) => {}
    }
    heartbeat.abort();
    stop_refresh.cancel();
    let boot_key = match refresh {
        Some(task) => task.await.ok(),
        None => None,
    };
    if exit_requested.is_cancelled() {
        // Like a crash: the run in hand keeps its lease, and the boot info its TTL, until expiry.
        let _ = worker
            .store
            .set_worker_state(&worker.boot_id, WorkerState::Exited)
            .await;
        worker.store.close().await;
        anyhow::bail!("worker {} exiting on a chaos request", worker.boot_id);
    }
    let current = worker.current.lock().ok().and_then(|c| c.clone());
    if let Some(run_id) = current {
        let _ = worker.store.release_run(&run_id, &worker.boot_id).await;
    }
    if let Some(key) = boot_key {
        key.remove().await;
    }
    let _ = worker
        .store
        .set_worker_state(&worker.boot_id, WorkerState::Exited)
        .await;
    worker.store.close().await;
    Ok(())
}

async fn heartbeat(worker: Arc<Worker>, exit: CancellationToken, shutdown: CancellationToken) {
    let interval = heartbeat_interval(worker.settings.lease);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match worker.store.worker_heartbeat(&worker.boot_id).await {
            Ok(WorkerState::ExitRequested) => {
                exit.cancel();
                return;
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(error = %err, "worker heartbeat failed"),
        }
        let current = worker.current.lock().ok().and_then(|c| c.clone());
        if let Some(run_id) = current {
            let lease_until = now_ms_i64() + worker.settings.lease.as_millis() as i64;
            match worker
                .store
                .extend_lease(&run_id, &worker.boot_id, lease_until)
                .await
            {
                Ok(true) => {}
                Ok(false) => worker.lease_lost.store(true, Ordering::SeqCst),
                Err(err) => tracing::debug!(error = %err, "lease heartbeat failed"),
            }
        }
    }
}

async fn work(worker: &Worker) {
    let expire_leases = !worker.settings.defects.has(Defect::StuckOnRestart);
    loop {
        let lease_until = now_ms_i64() + worker.settings.lease.as_millis() as i64;
        match worker
            .store
            .claim_run(&worker.boot_id, lease_until, expire_leases)
            .await
        {
            Ok(Some(run)) => {
                let id = run.id.clone();
                if let Ok(mut current) = worker.current.lock() {
                    *current = Some(id.clone());
                }
                worker.lease_lost.store(false, Ordering::SeqCst);
                let outcome = worker.process(&run).await;
                if let Ok(mut current) = worker.current.lock() {
                    *current = None;
                }
                if let Err(err) = outcome {
                    tracing::warn!(run = %id, error = %err, "run abandoned");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
            Ok(None) => tokio::time::sleep(IDLE_POLL).await,
            Err(err) => {
                tracing::debug!(error = %err, "claim failed");
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
}

impl Worker {
    fn has(&self, defect: Defect) -> bool {
        self.settings.defects.has(defect)
    }

    async fn event(
        &self,
        run: &RunRecord,
        kind: &str,
        step: u64,
        mut data: serde_json::Value,
    ) -> Result<(), WorkerError> {
        data["type"] = serde_json::json!(kind);
        data["run_id"] = serde_json::json!(run.id);
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        self.store.append_event(&run.id, kind, step, &data).await?;
        Ok(())
    }

    async fn fail(&self, run: &RunRecord, reason: &str) -> Result<(), WorkerError> {
        self.event(
            run,
            "run_failed",
            0,
            serde_json::json!({ "reason": reason }),
        )
        .await?;
        self.store.finish_run(&run.id, RunStatus::Failed).await?;
        Ok(())
    }

    async fn process(&self, run: &RunRecord) -> Result<(), WorkerError> {
        if run.attempts > MAX_ATTEMPTS {
            return self.fail(run, "too many attempts").await;
        }
        let steps = run.steps();
        let started = serde_json::json!({ "attempt": run.attempts, "steps": steps });
        self.event(run, "run_started", 0, started).await?;
        for step in 1..=steps {
            tokio::time::sleep(self.settings.step).await;
            if self.lease_lost.load(Ordering::SeqCst) {
                return Err(WorkerError::LeaseLost(run.id.clone()));
            }
            let progress = serde_json::json!({ "step": step, "steps": steps });
            self.event(run, "progress", step, progress).await?;
        }
        if run.should_fail() {
            return self.fail(run, "the run asked to fail").await;
        }
        let files = package::build(run, self.has(Defect::CorruptArtifact));
        let written = self.packages.fetch_add(1, Ordering::SeqCst) + 1;
        let wrong = self.has(Defect::WrongBucket) && written % WRONG_BUCKET_PERIOD == 0;
        let bucket = self.artifacts.write_package(&run.id, &files, wrong).await?;
        let written = serde_json::json!({
            "prefix": artifact_prefix(&bucket, &run.id),
            "files": files.len(),
        });
        self.event(run, "artifact_written", 0, written).await?;
        let idempotent = !self.has(Defect::DuplicateResults);
        let completion = self.completions.fetch_add(1, Ordering::SeqCst) + 1;
        self.store
            .record_result(&run.id, &self.boot_id, idempotent)
            .await?;
        if completion % REDELIVERY_PERIOD == 0 {
            self.store
                .record_result(&run.id, &self.boot_id, idempotent)
                .await?;
        }
        let completed = serde_json::json!({ "worker": self.boot_id });
        self.event(run, "run_completed", 0, completed).await?;
        self.store.finish_run(&run.id, RunStatus::Completed).await?;
        Ok(())
    }
}
