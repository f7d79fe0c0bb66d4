//! One proxied connection: connect to the upstream, run the two pipelines, and apply the toxics
//! that act on the connection as a whole (`reset_peer`, `timeout`'s close, `down`).
//!
//! The supervisor owns both sockets. It lends their halves to the pipelines and gets them back
//! when the connection ends, so it can choose how each side is closed: an ordinary close, or a
//! TCP reset (`SO_LINGER = 0`, then close) for `reset_peer`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::pipeline::{FlowEnd, Pipeline};
use super::registry::{ConnShared, Part};
use super::shared::Shared;
use super::socket_buffers;
use super::state::{ActiveToxic, ToxicSet, selects};
use super::toxics::{Flow, Toxic};

/// Keeps the proxy's connection gauge and registry right however the task ends (even if it is
/// dropped before it runs).
pub(crate) struct ConnGuard {
    shared: Arc<Shared>,
    conn: Option<Arc<ConnShared>>,
}

impl ConnGuard {
    /// Count a new accepted connection.
    pub(crate) fn accepted(shared: Arc<Shared>) -> ConnGuard {
        shared.counters.accepted.incr();
        shared.counters.active.incr();
        ConnGuard { shared, conn: None }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(conn) = &self.conn {
            self.shared.registry.remove(conn);
        }
        self.shared.counters.active.decr();
        self.shared.counters.closed.incr();
    }
}

/// Why a connection ended.
enum Ending {
    /// Both flows closed normally, or a socket failed.
    Done,
    /// Closed by control's fallback or by shutdown.
    Cancelled,
    /// `reset_peer` fired.
    Reset(Arc<ActiveToxic>),
    /// `timeout`'s close fired.
    TimedOut(Arc<ActiveToxic>),
    /// The proxy went down.
    Down(Arc<ActiveToxic>),
    /// `limit_data` used up its bytes.
    Limited(Arc<ActiveToxic>),
}

/// Serve one accepted client connection to its end.
pub(crate) async fn serve(mut guard: ConnGuard, mut client: TcpStream, id: u64) {
    let shared = guard.shared.clone();
    let close = shared.cancel.child_token();
    let connect = tokio::time::timeout(
        shared.connect_timeout,
        TcpStream::connect(shared.upstream.as_str()),
    );
    let mut server = tokio::select! {
        () = close.cancelled() => return,
        connected = connect => match connected {
            Ok(Ok(server)) => server,
            _ => {
                shared.counters.upstream_errors.incr();
                return;
            }
        },
    };
    // Small messages (queries, requests) must not wait for Nagle's algorithm.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    for stream in [&client, &server] {
        // Best effort: if the kernel refuses, the autotuned buffers still work.
        let _ = socket_buffers::fit(stream, shared.socket_buffer);
    }

    let mut rx = shared.toxics.subscribe();
    let set = rx.borrow_and_update().clone();
    let conn = shared.registry.register(id, set.version, close);
    guard.conn = Some(conn.clone());

    let ending = supervise(&shared, &conn, &mut client, &mut server, rx, &set).await;
    let count = |toxic: &ActiveToxic| {
        toxic.counters.closed.incr();
        if conn.first_touch(toxic.id) {
            toxic.counters.connections.incr();
        }
    };
    match ending {
        Ending::Done | Ending::Cancelled => {}
        Ending::Reset(toxic) => {
            count(&toxic);
            shared.counters.reset.incr();
            if toxic.spec.direction.includes(Flow::Downstream) {
                let _ = client.set_zero_linger();
            }
            if toxic.spec.direction.includes(Flow::Upstream) {
                let _ = server.set_zero_linger();
            }
        }
        Ending::TimedOut(toxic) => {
            if conn.first_touch(toxic.id) {
                toxic.counters.connections.incr();
                shared.counters.timed_out.incr();
            }
            toxic.counters.closed.incr();
        }
        Ending::Down(toxic) => {
            count(&toxic);
            shared.counters.closed_by_down.incr();
        }
        Ending::Limited(toxic) => {
            count(&toxic);
            shared.counters.limited.incr();
        }
    }
    drop(client);
    drop(server);
}

/// Timers of the connection-level toxics, keyed by toxic id: when each first reached the
/// connection.
#[derive(Default)]
struct ConnTimers {
    seen: HashMap<u64, Instant>,
    reset: Option<(Instant, Arc<ActiveToxic>)>,
    close: Option<(Instant, Arc<ActiveToxic>)>,
    down: Option<Arc<ActiveToxic>>,
}

impl ConnTimers {
    fn update(&mut self, set: &ToxicSet, seed: u64, conn: u64, now: Instant) {
        self.seen
            .retain(|id, _| set.toxics.iter().any(|t| t.id == *id));
        self.reset = None;
        self.close = None;
        self.down = set.down().cloned();
        for toxic in &set.toxics {
            let delay = match toxic.spec.toxic {
                Toxic::ResetPeer(r) => Some(r.timeout),
                Toxic::Timeout(t) => t.timeout,
                _ => None,
            };
            let Some(delay) = delay else { continue };
            if !selects(seed, toxic, conn) {
                continue;
            }
            let at = *self.seen.entry(toxic.id).or_insert(now) + delay;
            let slot = match toxic.spec.toxic {
                Toxic::ResetPeer(_) => &mut self.reset,
                _ => &mut self.close,
            };
            if slot.as_ref().is_none_or(|(cur, _)| at < *cur) {
                *slot = Some((at, toxic.clone()));
            }
        }
    }
}

async fn supervise(
    shared: &Arc<Shared>,
    conn: &Arc<ConnShared>,
    client: &mut TcpStream,
    server: &mut TcpStream,
    mut rx: watch::Receiver<Arc<ToxicSet>>,
    set: &ToxicSet,
) -> Ending {
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let up = Pipeline::new(
        Flow::Upstream,
        shared.clone(),
        conn.clone(),
        rx.clone(),
        set,
    )
    .run(client_read, server_write);
    let down = Pipeline::new(
        Flow::Downstream,
        shared.clone(),
        conn.clone(),
        rx.clone(),
        set,
    )
    .run(server_read, client_write);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    let mut timers = ConnTimers::default();
    timers.update(set, shared.seed, conn.id, Instant::now());
    loop {
        if let Some(toxic) = &timers.down {
            return Ending::Down(toxic.clone());
        }
        if up_done && down_done {
            return Ending::Done;
        }
        let reset_at = timers.reset.as_ref().map(|(at, _)| *at);
        let close_at = timers.close.as_ref().map(|(at, _)| *at);
        let now = Instant::now();
        tokio::select! {
            biased;
            () = conn.close.cancelled() => return Ending::Cancelled,
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ending::Cancelled;
                }
                let set = rx.borrow_and_update().clone();
                let now = Instant::now();
                timers.update(&set, shared.seed, conn.id, now);
                // A change that ends the connection now is carried out before it is
                // acknowledged (the connection's removal is its acknowledgement), so that
                // control returns only once it has happened.
                if let Some(toxic) = &timers.down {
                    return Ending::Down(toxic.clone());
                }
                if let Some((at, toxic)) = &timers.reset {
                    if *at <= now {
                        return Ending::Reset(toxic.clone());
                    }
                }
                shared.registry.ack(conn, Part::Supervisor, set.version);
            }
            () = sleep_until(reset_at.unwrap_or(now)), if reset_at.is_some() => {
                if let Some((_, toxic)) = timers.reset.take() {
                    return Ending::Reset(toxic);
                }
            }
            () = sleep_until(close_at.unwrap_or(now)), if close_at.is_some() => {
                if let Some((_, toxic)) = timers.close.take() {
                    return Ending::TimedOut(toxic);
                }
            }
            end = &mut up, if !up_done => match end {
                FlowEnd::Closed => up_done = true,
                other => return flow_ending(other),
            },
            end = &mut down, if !down_done => match end {
                FlowEnd::Closed => down_done = true,
                other => return flow_ending(other),
            },
        }
    }
}

fn flow_ending(end: FlowEnd) -> Ending {
    match end {
        FlowEnd::Limited(toxic) => Ending::Limited(toxic),
        FlowEnd::Stopped => Ending::Cancelled,
        FlowEnd::Closed | FlowEnd::Failed => Ending::Done,
    }
}
