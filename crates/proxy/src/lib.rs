//! The fault proxy: an embedded TCP proxy, in the style of Toxiproxy, placed between a client and
//! a dependency (the API in front of its database, the load in front of the API), that injects
//! network faults ("toxics") on real traffic.
//!
//! - Each connection has a pipeline of interruptible steps per direction (`pipeline.rs`) and a
//!   supervisor for the faults that end connections (`connection.rs`). A bulk flow with no toxic
//!   on it is forwarded with `splice(2)` (`splice.rs`), without copies through user space, and
//!   woken once per batch of bytes rather than once per segment while bytes pile up in its source
//!   (`batching.rs`); sockets on loopback get fixed kernel buffers (`socket_buffers.rs`) so that
//!   the bytes in flight across the extra hop stay in the CPU cache.
//! - Control ([`Proxy::add_toxic`], [`Proxy::remove_toxic`]) never blocks on data: it publishes
//!   the new toxic set at once, waits under a deadline until every connection has taken it up,
//!   and closes the connections that have not (`control.rs`).
//! - Every toxic has a TTL, which the proxy enforces itself, in its own runtime.
//! - Counters ([`ProxyStats`], [`ToxicStats`]) prove that a fault touched traffic.
//! - Toxicity (which connections a toxic acts on) and jitter come from an RNG seeded by
//!   [`ProxyConfig::seed`].
//!
//! The proxy runs on its own thread and single-threaded tokio runtime, so that neither a busy nor
//! a stuck caller delays its traffic or its expiries. Its handle is used from any tokio runtime.

mod batching;
mod connection;
mod control;
pub mod counters;
mod listener;
mod pipeline;
mod registry;
mod shared;
mod socket_buffers;
#[cfg(target_os = "linux")]
mod splice;
#[cfg(not(target_os = "linux"))]
#[path = "splice_unsupported.rs"]
mod splice;
mod state;
pub mod toxics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use counters::{ProxyStats, ToxicEnd, ToxicStats};
pub use toxics::{Direction, Toxic, ToxicError, ToxicSpec};

use shared::{Shared, stats_of};

/// How to run one proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The proxy's name (the plan's `[proxies.NAME]`), used in messages.
    pub name: String,
    /// Where to listen; port 0 picks a free port (see [`Proxy::addr`]).
    pub listen: SocketAddr,
    /// The dependency, `host:port`, connected to once per accepted client.
    pub upstream: String,
    /// Seed of toxicity draws, jitter and slice sizes.
    pub seed: u64,
    /// How long a toxic change may take to reach every connection before the stragglers are
    /// closed.
    pub control_deadline: Duration,
    /// Timeout of each upstream connect.
    pub connect_timeout: Duration,
    /// Bytes a flow may hold back (latency, blackhole) before it stops reading from its source.
    pub buffer_per_flow: usize,
    /// The kernel send and receive buffer of each socket whose peer is on loopback, so that the
    /// bytes in flight through the proxy stay in the CPU cache; `None` leaves the kernel's
    /// autotuning. Sockets to other hosts always keep the autotuning.
    pub loopback_socket_buffer: Option<usize>,
}

impl ProxyConfig {
    /// A configuration with the default deadlines and buffer, and seed 0.
    pub fn new(name: impl Into<String>, listen: SocketAddr, upstream: impl Into<String>) -> Self {
        ProxyConfig {
            name: name.into(),
            listen,
            upstream: upstream.into(),
            seed: 0,
            control_deadline: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            buffer_per_flow: 4 * 1024 * 1024,
            loopback_socket_buffer: Some(512 * 1024),
        }
    }
}

/// What can go wrong with a proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address could not be bound.
    #[error("proxy `{proxy}`: cannot listen on {addr}: {source}")]
    Bind {
        /// The proxy.
        proxy: String,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The proxy's runtime or thread could not start.
    #[error("proxy `{proxy}`: cannot start: {source}")]
    Start {
        /// The proxy.
        proxy: String,
        /// Why.
        source: std::io::Error,
    },
    /// A toxic's parameters are invalid.
    #[error("proxy `{proxy}`: toxic `{name}`: {source}")]
    InvalidToxic {
        /// The proxy.
        proxy: String,
        /// The toxic.
        name: String,
        /// What is wrong.
        source: ToxicError,
    },
    /// A toxic with this name is already active.
    #[error(
        "proxy `{proxy}`: a toxic named `{name}` is already active; remove it first or use another name"
    )]
    Duplicate {
        /// The proxy.
        proxy: String,
        /// The toxic.
        name: String,
    },
    /// No active toxic has this name (it was removed, or it expired).
    #[error("proxy `{proxy}`: no active toxic named `{name}`")]
    NotFound {
        /// The proxy.
        proxy: String,
        /// The toxic.
        name: String,
    },
    /// After `down` ended, the listener could not be reopened in time.
    #[error(
        "proxy `{proxy}`: cannot listen again on {addr} after `down` (the port may have been taken)"
    )]
    Relisten {
        /// The proxy.
        proxy: String,
        /// The address.
        addr: SocketAddr,
    },
}

/// What a toxic change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlOutcome {
    /// Connections open when the change was published: every one of them took it up or was
    /// closed.
    pub connections: usize,
    /// Connections closed because they had not taken up the change by the deadline.
    pub fallback_closed: usize,
    /// How long the change took to reach every connection (at most about the deadline).
    pub elapsed: Duration,
    /// The toxic's counters at that moment (final ones, for a removal).
    pub stats: ToxicStats,
}

/// A running proxy. Dropping it stops it; [`Proxy::shutdown`] also waits until it has stopped.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    control_deadline: Duration,
    stopped: Option<oneshot::Receiver<()>>,
}

impl Proxy {
    /// Bind the listener and start serving. Works inside or outside a tokio runtime.
    pub fn start(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let bind_error = |source| ProxyError::Bind {
            proxy: config.name.clone(),
            addr: config.listen,
            source,
        };
        let std_listener = std::net::TcpListener::bind(config.listen).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = std_listener.local_addr().map_err(bind_error)?;
        let start_error = |source| ProxyError::Start {
            proxy: config.name.clone(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(start_error)?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared::new(&config, addr, cancel.clone()));
        let handle = runtime.handle().clone();
        let (stopped_tx, stopped) = oneshot::channel();
        let task_shared = shared.clone();
        let deadline = config.control_deadline;
        std::thread::Builder::new()
            .name(format!("proxy-{}", config.name))
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => {
                            tokio::spawn(listener::accept_loop(task_shared.clone(), listener));
                            tokio::spawn(control::reap_expired(task_shared.clone(), deadline));
                        }
                        Err(err) => {
                            tracing::error!(proxy = %task_shared.name, %err, "cannot register the listener");
                        }
                    }
                    task_shared.cancel.cancelled().await;
                });
                // Dropping the runtime drops every task, and with them every socket.
                drop(runtime);
                let _ = stopped_tx.send(());
            })
            .map_err(start_error)?;
        Ok(Proxy {
            shared,
            runtime: handle,
            control_deadline: config.control_deadline,
            stopped: Some(stopped),
        })
    }

    /// The proxy's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The address clients connect to (with the real port when the config said 0).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The upstream, `host:port`.
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// Add a toxic. It acts on open connections (keep-alive ones included) and on new ones, until
    /// it is removed or its TTL passes. Returns once every open connection has taken it up, or
    /// after the control deadline, having closed the connections that had not.
    pub async fn add_toxic(&self, spec: ToxicSpec) -> Result<ControlOutcome, ProxyError> {
        spec.validate().map_err(|source| ProxyError::InvalidToxic {
            proxy: self.shared.name.clone(),
            name: spec.name.clone(),
            source,
        })?;
        let started = Instant::now();
        let (version, toxic) = self.shared.publish_add(spec)?;
        let deadline = started + self.control_deadline;
        let settled = control::settle(&self.shared, version, deadline, toxic.is_down()).await;
        Ok(ControlOutcome {
            connections: settled.connections,
            fallback_closed: settled.fallback_closed,
            elapsed: started.elapsed(),
            stats: stats_of(&toxic, ToxicEnd::Active),
        })
    }

    /// Remove the toxic named `name`, under the same deadline as [`Proxy::add_toxic`]. Returns
    /// [`ProxyError::NotFound`] if it is not active (already removed, or expired: its counters are
    /// still in [`Proxy::toxic_stats`]).
    pub async fn remove_toxic(&self, name: &str) -> Result<ControlOutcome, ProxyError> {
        let started = Instant::now();
        let (version, removed) = self
            .shared
            .publish_remove(ToxicEnd::Removed, |t| t.spec.name == name);
        let Some(toxic) = removed.first() else {
            return Err(ProxyError::NotFound {
                proxy: self.shared.name.clone(),
                name: name.to_string(),
            });
        };
        let deadline = started + self.control_deadline;
        let settled = control::settle(&self.shared, version, deadline, toxic.is_down()).await;
        if !settled.listener {
            return Err(ProxyError::Relisten {
                proxy: self.shared.name.clone(),
                addr: self.shared.addr,
            });
        }
        Ok(ControlOutcome {
            connections: settled.connections,
            fallback_closed: settled.fallback_closed,
            elapsed: started.elapsed(),
            stats: stats_of(toxic, ToxicEnd::Removed),
        })
    }

    /// The proxy's counters now.
    pub fn stats(&self) -> ProxyStats {
        let tasks = self.runtime.metrics().num_alive_tasks() as u64;
        self.shared.counters.snapshot(tasks)
    }

    /// The counters of the toxic named `name`: the active one, or else the last one removed or
    /// expired.
    pub fn toxic_stats(&self, name: &str) -> Option<ToxicStats> {
        self.shared.toxic_stats(name)
    }

    /// The counters of every active toxic.
    pub fn toxics(&self) -> Vec<ToxicStats> {
        self.shared.active_stats()
    }

    /// Stop the proxy: close the listener and every connection, and wait (at most a few
    /// seconds) until its runtime has stopped.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(stopped) = self.stopped.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stopped).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// Check that `upstream` (`host:port`) accepts a TCP connection within `timeout`: the preflight
/// of a proxy.
pub async fn probe_upstream(upstream: &str, timeout: Duration) -> std::io::Result<()> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(upstream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}
