//! The HTTP API (axum): health, login, runs, run events (SSE), the agent WebSocket, the canary
//! (and the LLM-like upstream it calls by default) and the ops endpoints, served on a loopback
//! address with a graceful, bounded drain on shutdown.

pub mod auth;
mod body;
pub mod canary;
mod error;
mod event_watch;
mod events;
mod health;
mod ledger;
pub mod llm_upstream;
mod load;
mod ops;
mod pending;
mod reported;
mod runs;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

use crate::artifacts::ArtifactStore;
use crate::config::{Settings, redact_url_password};
use crate::defects::Defect;
use crate::outage::DbOutage;
use crate::store::Store;

/// The largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How long in-flight requests may take to finish after SIGTERM.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Everything a request handler can reach.
#[derive(Debug)]
pub struct ApiContext {
    /// The validated settings.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// The artifact store (probed by readiness).
    pub artifacts: ArtifactStore,
    /// The shared simulated database outage.
    pub outage: DbOutage,
    /// A new UUID each time the process starts.
    pub boot_id: String,
    /// When the process started.
    pub started: Instant,
    /// Acknowledged but not yet durable runs (only with the `lose-acked` defect).
    pub pending: Option<pending::PendingRuns>,
    /// Requests being served right now.
    pub in_flight: AtomicUsize,
    /// One poller per run that SSE streams follow.
    pub watches: event_watch::EventWatches,
    /// Cancelled when the process is asked to stop; streams end on it.
    pub shutdown: CancellationToken,
    /// The canary's client and upstream.
    pub canary: canary::Canary,
    /// What reads report about completed runs (`status-regresses`, `status-conflicts`,
    /// `brief-regression`).
    pub reported: reported::ReportedRuns,
    /// Per-process submission counts and aliases (only with `commit-then-500` or `shared-id`).
    pub ledger: Option<ledger::SubmitLedger>,
}

/// The state shared by all handlers.
pub type AppState = Arc<ApiContext>;

impl ApiContext {
    /// Whether a defect is switched on.
    pub fn has(&self, defect: Defect) -> bool {
        self.settings.defects.has(defect)
    }

    /// The bucket named in artifact prefixes.
    pub fn bucket(&self) -> &str {
        &self.settings.bucket
    }
}

/// The router for `state`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/runs", post(runs::create).get(runs::list))
        .route("/api/v1/runs/{id}", get(runs::get_one))
        .route("/api/v1/runs/{id}/events", get(events::stream))
        .route("/api/v1/agent/ws", get(ws::upgrade))
        .route("/api/v1/canary", post(canary::call))
        .route(canary::UPSTREAM_PATH, post(llm_upstream::answer))
        .route("/api/v1/ops/queue", get(ops::queue))
        .route("/api/v1/ops/worker-status", get(ops::worker_status))
        .route("/api/v1/ops/chaos/worker-exit", post(ops::worker_exit))
        .route("/api/v1/ops/chaos/db-outage", post(ops::db_outage))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            load::track,
        ));
    Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(api)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Run the API process: open the stores, bind `listen` (retrying briefly while the port is still
/// held by a previous incarnation), print the first line, and serve until `shutdown`.
pub async fn run(
    settings: Settings,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let outage = DbOutage::new(&settings.data_dir);
    let store = Store::open(&settings.database_url, outage.clone())
        .await
        .with_context(|| format!("opening {}", settings.redacted_database_url()))?;
    let artifacts = ArtifactStore::open(&settings).context("opening the artifact store")?;
    let listener = bind_with_retry(listen).await?;
    let addr = listener.local_addr()?;
    let pending = settings
        .defects
        .has(Defect::LoseAcked)
        .then(pending::PendingRuns::default);
    let reported = reported::ReportedRuns::new(&settings.defects);
    let ledger = ledger::SubmitLedger::new(&settings.defects);
    let canary =
        canary::Canary::new(&settings.canary, addr).context("building the canary's HTTP client")?;
    let state = Arc::new(ApiContext {
        canary,
        settings,
        store,
        artifacts,
        outage,
        boot_id: uuid::Uuid::new_v4().to_string(),
        started: Instant::now(),
        pending,
        in_flight: AtomicUsize::new(0),
        watches: event_watch::EventWatches::default(),
        shutdown: shutdown.clone(),
        reported,
        ledger,
    });
    crate::jsonl::write_line(&serde_json::json!({
        "api": format!("http://{addr}"),
        "boot_id": state.boot_id,
        "pid": std::process::id(),
        "canary_upstream": redact_url_password(state.canary.upstream()),
    }))?;
    if state.pending.is_some() {
        tokio::spawn(pending::flush_lazily(Arc::clone(&state)));
    }
    let server = axum::serve(listener, router(Arc::clone(&state)))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let drain_deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served.context("serving")?,
        () = drain_deadline => tracing::warn!("drain deadline passed; closing remaining requests"),
    }
    state.store.close().await;
    Ok(())
}

async fn bind_with_retry(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let mut attempts = 0;
    loop {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => return Ok(listener),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err).with_context(|| format!("binding {listen}")),
        }
    }
}
