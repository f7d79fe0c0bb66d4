//! The proxy's counters: what it did to traffic, which is what proves a network fault.
//!
//! Counters are atomics bumped by the data path; [`ProxyStats`] and [`ToxicStats`] are plain
//! snapshots of them.

use std::sync::atomic::{AtomicU64, Ordering};

/// A relaxed atomic counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn incr(&self) {
        self.add(1);
    }

    pub(crate) fn decr(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The proxy-wide counters.
#[derive(Debug, Default)]
pub(crate) struct ProxyCounters {
    pub accepted: Counter,
    pub active: Counter,
    pub closed: Counter,
    pub upstream_errors: Counter,
    pub reset: Counter,
    pub timed_out: Counter,
    pub closed_by_down: Counter,
    pub limited: Counter,
    pub fallback_closed: Counter,
    pub bytes_upstream: Counter,
    pub bytes_downstream: Counter,
    pub bytes_delayed: Counter,
    pub bytes_held: Counter,
}

/// A snapshot of a proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxyStats {
    /// Client connections accepted since the proxy started.
    pub accepted: u64,
    /// Client connections open now (it returns to zero once every client has gone).
    pub active: u64,
    /// Client connections closed, for any reason.
    pub closed: u64,
    /// Accepted connections whose upstream connect failed (the client was then closed).
    pub upstream_errors: u64,
    /// Connections ended with a TCP RST by `reset_peer`.
    pub reset: u64,
    /// Connections a `timeout` toxic held traffic on or closed.
    pub timed_out: u64,
    /// Connections closed because the proxy went `down`.
    pub closed_by_down: u64,
    /// Connections closed by `limit_data`.
    pub limited: u64,
    /// Connections closed because they had not taken up a configuration change by its deadline.
    pub fallback_closed: u64,
    /// Bytes forwarded from clients to the upstream.
    pub bytes_upstream: u64,
    /// Bytes forwarded from the upstream to clients.
    pub bytes_downstream: u64,
    /// Bytes forwarded late because of `latency`, `bandwidth` or `slicer`.
    pub bytes_delayed: u64,
    /// Bytes that arrived while a `timeout` toxic held their flow.
    pub bytes_held: u64,
    /// Tasks alive in the proxy's runtime (the listener, the TTL reaper and one per connection):
    /// it returns to its idle value once every connection has closed.
    pub tasks: u64,
}

impl ProxyCounters {
    pub(crate) fn snapshot(&self, tasks: u64) -> ProxyStats {
        ProxyStats {
            accepted: self.accepted.get(),
            active: self.active.get(),
            closed: self.closed.get(),
            upstream_errors: self.upstream_errors.get(),
            reset: self.reset.get(),
            timed_out: self.timed_out.get(),
            closed_by_down: self.closed_by_down.get(),
            limited: self.limited.get(),
            fallback_closed: self.fallback_closed.get(),
            bytes_upstream: self.bytes_upstream.get(),
            bytes_downstream: self.bytes_downstream.get(),
            bytes_delayed: self.bytes_delayed.get(),
            bytes_held: self.bytes_held.get(),
            tasks,
        }
    }
}

/// The counters of one toxic.
#[derive(Debug, Default)]
pub(crate) struct ToxicCounters {
    pub connections: Counter,
    pub bytes: Counter,
    pub closed: Counter,
}

/// Why a toxic is no longer active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToxicEnd {
    /// Still active.
    Active,
    /// Removed through the control API.
    Removed,
    /// Removed by the proxy when its TTL passed.
    Expired,
}

/// A snapshot of one toxic's counters: the proof that it touched traffic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToxicStats {
    /// The toxic's name.
    pub name: String,
    /// Its kind (`latency`, `down`, ...).
    pub kind: &'static str,
    /// Connections it acted on.
    pub connections: u64,
    /// Bytes it delayed, held or cut.
    pub bytes: u64,
    /// Connections it closed (reset, timed out, limited, closed by `down`, or closed late by
    /// `slow_close`).
    pub closed: u64,
    /// Whether it is still active, and if not, why.
    pub end: ToxicEnd,
}

impl ToxicStats {
    /// Whether the toxic demonstrably touched traffic: a network fault is PASS-eligible only then.
    /// Toxics that shape data must have shaped some bytes; toxics that end connections must have
    /// ended one.
    pub fn touched_traffic(&self) -> bool {
        match self.kind {
            "latency" | "bandwidth" | "slicer" => self.bytes > 0,
            "timeout" => self.bytes > 0 || self.closed > 0,
            _ => self.closed > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_depends_on_the_kind() {
        let stats = |kind, bytes, closed| ToxicStats {
            name: "t".into(),
            kind,
            connections: 1,
            bytes,
            closed,
            end: ToxicEnd::Active,
        };
        assert!(stats("latency", 10, 0).touched_traffic());
        assert!(!stats("latency", 0, 0).touched_traffic());
        assert!(!stats("down", 0, 0).touched_traffic());
        assert!(stats("down", 0, 2).touched_traffic());
        assert!(!stats("reset_peer", 100, 0).touched_traffic());
        assert!(stats("timeout", 5, 0).touched_traffic());
    }
}
