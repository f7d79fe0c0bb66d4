//! The state every task of one proxy shares: its settings, its counters, the published toxic set,
//! the registry of connections, and the record of retired toxics.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ProxyError;
use super::counters::{ProxyCounters, ToxicCounters, ToxicEnd, ToxicStats};
use super::registry::Registry;
use super::state::{ActiveToxic, ToxicSet};
use super::toxics::ToxicSpec;

/// How many retired toxics the proxy remembers (their counters stay readable).
const RETIRED_KEPT: usize = 256;

/// What every task of a proxy shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub upstream: String,
    pub addr: SocketAddr,
    pub seed: u64,
    pub connect_timeout: Duration,
    pub buffer: usize,
    pub socket_buffer: Option<usize>,
    pub counters: ProxyCounters,
    pub toxics: watch::Sender<Arc<ToxicSet>>,
    pub registry: Registry,
    /// Cancelled when the proxy shuts down.
    pub cancel: CancellationToken,
    retired: Mutex<VecDeque<(Arc<ActiveToxic>, ToxicEnd)>>,
    next_toxic: AtomicU64,
    next_conn: AtomicU64,
}

impl Shared {
    pub fn new(config: &super::ProxyConfig, addr: SocketAddr, cancel: CancellationToken) -> Shared {
        Shared {
            name: config.name.clone(),
            upstream: config.upstream.clone(),
            addr,
            seed: config.seed,
            connect_timeout: config.connect_timeout,
            buffer: config.buffer_per_flow.max(1),
            socket_buffer: config.loopback_socket_buffer.filter(|b| *b > 0),
            counters: ProxyCounters::default(),
            toxics: watch::Sender::new(Arc::new(ToxicSet::default())),
            registry: Registry::default(),
            cancel,
            retired: Mutex::default(),
            next_toxic: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
        }
    }

    /// The next connection number (1, 2, ...): with the seed, it decides toxicity.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Publish a set with `spec` added. Returns the new version and the toxic.
    pub fn publish_add(&self, spec: ToxicSpec) -> Result<(u64, Arc<ActiveToxic>), ProxyError> {
        let toxic = Arc::new(ActiveToxic {
            id: self.next_toxic.fetch_add(1, Ordering::Relaxed),
            expires: Instant::now() + spec.ttl,
            spec,
            counters: ToxicCounters::default(),
        });
        let mut duplicate = false;
        let mut version = 0;
        self.toxics.send_if_modified(|set| {
            if set.toxics.iter().any(|t| t.spec.name == toxic.spec.name) {
                duplicate = true;
                return false;
            }
            let mut toxics = set.toxics.clone();
            toxics.push(toxic.clone());
            version = set.version + 1;
            *set = Arc::new(ToxicSet { version, toxics });
            true
        });
        if duplicate {
            return Err(ProxyError::Duplicate {
                proxy: self.name.clone(),
                name: toxic.spec.name.clone(),
            });
        }
        Ok((version, toxic))
    }

    /// Publish a set without the toxics that `pick` selects, and retire them with `end`. Returns
    /// the new version and the removed toxics (none if nothing matched).
    pub fn publish_remove(
        &self,
        end: ToxicEnd,
        pick: impl Fn(&ActiveToxic) -> bool,
    ) -> (u64, Vec<Arc<ActiveToxic>>) {
        let mut removed = Vec::new();
        let mut version = 0;
        self.toxics.send_if_modified(|set| {
            let (gone, kept): (Vec<_>, Vec<_>) = set.toxics.iter().cloned().partition(|t| pick(t));
            if gone.is_empty() {
                return false;
            }
            removed = gone;
            version = set.version + 1;
            *set = Arc::new(ToxicSet {
                version,
                toxics: kept,
            });
            true
        });
        if let Ok(mut retired) = self.retired.lock() {
            for toxic in &removed {
                if retired.len() == RETIRED_KEPT {
                    retired.pop_front();
                }
                retired.push_back((toxic.clone(), end));
            }
        }
        (version, removed)
    }

    /// The counters of the toxic named `name`: the active one, else the last retired one.
    pub fn toxic_stats(&self, name: &str) -> Option<ToxicStats> {
        if let Some(active) = self
            .toxics
            .borrow()
            .toxics
            .iter()
            .find(|t| t.spec.name == name)
        {
            return Some(stats_of(active, ToxicEnd::Active));
        }
        self.retired
            .lock()
            .ok()?
            .iter()
            .rev()
            .find(|(t, _)| t.spec.name == name)
            .map(|(t, end)| stats_of(t, *end))
    }

    /// The counters of every active toxic.
    pub fn active_stats(&self) -> Vec<ToxicStats> {
        self.toxics
            .borrow()
            .toxics
            .iter()
            .map(|t| stats_of(t, ToxicEnd::Active))
            .collect()
    }
}

/// A snapshot of `toxic`'s counters.
pub(crate) fn stats_of(toxic: &ActiveToxic, end: ToxicEnd) -> ToxicStats {
    ToxicStats {
        name: toxic.spec.name.clone(),
        kind: toxic.spec.toxic.kind(),
        connections: toxic.counters.connections.get(),
        bytes: toxic.counters.bytes.get(),
        closed: toxic.counters.closed.get(),
        end,
    }
}
