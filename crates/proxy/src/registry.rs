//! The open connections, and their acknowledgements of configuration changes.
//!
//! Each connection has three parts that read the toxic set (its two pipelines and its supervisor)
//! and each records the last version it has taken up. Control waits, under a deadline, until every
//! part of every connection (and the listener) has taken up its change; it never waits for data.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::toxics::Flow;

/// A part of a connection that acknowledges changes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Pipeline(Flow),
    Supervisor,
}

impl Part {
    fn index(self) -> usize {
        match self {
            Part::Pipeline(Flow::Upstream) => 0,
            Part::Pipeline(Flow::Downstream) => 1,
            Part::Supervisor => 2,
        }
    }
}

/// What control and the data path share about one connection.
#[derive(Debug)]
pub(crate) struct ConnShared {
    pub id: u64,
    acks: [AtomicU64; 3],
    /// Cancelled to close the connection (control's fallback, shutdown).
    pub close: CancellationToken,
    /// Toxics that have already counted this connection.
    counted: Mutex<HashSet<u64>>,
}

impl ConnShared {
    /// Whether every part has taken up `version`.
    pub fn acked(&self, version: u64) -> bool {
        self.acks
            .iter()
            .all(|a| a.load(Ordering::Acquire) >= version)
    }

    /// Whether this is the first time toxic `toxic` acts on this connection.
    pub fn first_touch(&self, toxic: u64) -> bool {
        self.counted
            .lock()
            .map(|mut counted| counted.insert(toxic))
            .unwrap_or(false)
    }
}

/// Every open connection.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnShared>>>,
    listener_ack: AtomicU64,
    /// Notified on every acknowledgement.
    pub changed: Notify,
}

impl Registry {
    /// Register connection `id`, whose parts start at `version`.
    pub fn register(&self, id: u64, version: u64, close: CancellationToken) -> Arc<ConnShared> {
        let conn = Arc::new(ConnShared {
            id,
            acks: std::array::from_fn(|_| AtomicU64::new(version)),
            close,
            counted: Mutex::default(),
        });
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(id, conn.clone());
        }
        conn
    }

    /// Part `part` of `conn` has taken up `version`.
    pub fn ack(&self, conn: &ConnShared, part: Part, version: u64) {
        conn.acks[part.index()].fetch_max(version, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// `conn` is gone: it will take up every future change, trivially.
    pub fn remove(&self, conn: &ConnShared) {
        for ack in &conn.acks {
            ack.store(u64::MAX, Ordering::Release);
        }
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&conn.id);
        }
        self.changed.notify_waiters();
    }

    /// The listener has taken up `version`.
    pub fn ack_listener(&self, version: u64) {
        self.listener_ack.fetch_max(version, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// Whether the listener has taken up `version`.
    pub fn listener_acked(&self, version: u64) -> bool {
        self.listener_ack.load(Ordering::Acquire) >= version
    }

    /// The open connections now.
    pub fn snapshot(&self) -> Vec<Arc<ConnShared>> {
        self.conns
            .lock()
            .map(|conns| conns.values().cloned().collect())
            .unwrap_or_default()
    }
}
