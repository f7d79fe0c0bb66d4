//! One flow of one connection: read chunks from one socket, let the toxics decide when (and
//! whether) each byte may go, and write them to the other socket.
//!
//! The pipeline is a single loop over interruptible steps: read a chunk, write a piece, wait for
//! a release time, take up a new toxic set. Every step is cancel-safe and the loop always listens
//! for configuration changes first, so a change is taken up at once even while a write waits on a
//! slow peer: control never waits for data. Reading goes on while queued chunks wait for their
//! release time (up to a bounded buffer), so delays are measured from each chunk's arrival and do
//! not cap throughput. Release times are computed from the current toxics every time, so removing
//! a toxic releases what it was holding back.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::batching::Batching;
use super::registry::{ConnShared, Part};
use super::shared::Shared;
use super::splice::{SplicePipe, SpliceRelay};
use super::state::{ActiveToxic, FlowToxics, ToxicSet, rng};
use super::toxics::bandwidth::Pacer;
use super::toxics::{Flow, Toxic};

/// Bytes read per chunk.
const READ_CHUNK: usize = 64 * 1024;

/// Bytes a flow forwards through the buffered path before it may switch to `splice`.
const SPLICE_AFTER: u64 = 256 * 1024;

/// Reads and writes all pipelines together do in one turn of the proxy's scheduler. Tokio's own
/// budget lets a busy task move megabytes per turn; with hundreds of busy connections a turn would
/// then take long enough to delay control, so each pipeline yields after its share of this (but
/// at least [`MIN_OPS_PER_TURN`]); a lone bulk connection is not slowed by needless yields.
const OPS_PER_ROUND: u64 = 256;

/// The least a pipeline does per turn.
const MIN_OPS_PER_TURN: u64 = 1;

/// How a flow ended.
#[derive(Debug)]
pub(crate) enum FlowEnd {
    /// The source closed and everything was forwarded, then the close was passed on.
    Closed,
    /// A `limit_data` toxic used up its bytes: the connection must close.
    Limited(Arc<ActiveToxic>),
    /// A socket failed (a reset, a broken pipe): the connection must close.
    Failed,
    /// The proxy is shutting down.
    Stopped,
}

/// A chunk waiting to be written.
struct Chunk {
    data: Bytes,
    arrived: Instant,
    /// This chunk's latency jitter, drawn when it arrived.
    jitter_ns: i64,
}

/// What the loop does next.
enum Next {
    /// Write this piece of the head chunk now.
    Write(Bytes),
    /// Nothing may be written before this moment.
    WaitUntil(Instant),
    /// Pass the close on.
    Close,
    /// The limit is used up.
    Limited(Arc<ActiveToxic>),
    /// Nothing to write (or everything is held): only read and listen.
    Idle,
}

/// One flow's pipeline.
pub(crate) struct Pipeline {
    flow: Flow,
    shared: Arc<Shared>,
    conn: Arc<ConnShared>,
    rx: watch::Receiver<Arc<ToxicSet>>,
    toxics: FlowToxics,
    rng: ChaCha8Rng,
    queue: VecDeque<Chunk>,
    queued: usize,
    head_offset: usize,
    eof: bool,
    drained_at: Option<Instant>,
    pacer: Pacer,
    /// Whether the bytes being written waited for the pacer (rather than the pacer for them).
    paced: bool,
    slice_left: usize,
    slice_ready: Instant,
    sent: u64,
    limit_base: Option<(u64, u64)>,
    touched: HashSet<u64>,
    relay: Option<SpliceRelay>,
    splice_failed: bool,
    batching: Batching,
}

impl Pipeline {
    /// A pipeline for `flow` of `conn`, starting from the set `rx` holds now.
    pub(crate) fn new(
        flow: Flow,
        shared: Arc<Shared>,
        conn: Arc<ConnShared>,
        rx: watch::Receiver<Arc<ToxicSet>>,
        set: &ToxicSet,
    ) -> Pipeline {
        let now = Instant::now();
        let batching = Batching::new(shared.socket_buffer);
        let flow_word = match flow {
            Flow::Upstream => 1,
            Flow::Downstream => 2,
        };
        let mut pipeline = Pipeline {
            toxics: FlowToxics::new(set, shared.seed, conn.id, flow),
            rng: rng(shared.seed, &[0xF10E, conn.id, flow_word]),
            flow,
            shared,
            conn,
            rx,
            queue: VecDeque::new(),
            queued: 0,
            head_offset: 0,
            eof: false,
            drained_at: None,
            pacer: Pacer::new(now),
            paced: false,
            slice_left: 0,
            slice_ready: now,
            sent: 0,
            limit_base: None,
            touched: HashSet::new(),
            relay: None,
            splice_failed: false,
            batching,
        };
        pipeline.rebase_limit();
        pipeline
    }

    /// Forward from `reader` to `writer` until the flow ends.
    pub(crate) async fn run(mut self, reader: ReadHalf<'_>, mut writer: WriteHalf<'_>) -> FlowEnd {
        let from: &TcpStream = reader.as_ref();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut ops = 0;
        loop {
            if ops >= self.ops_per_turn() {
                ops = 0;
                tokio::task::yield_now().await;
            }
            let to: &TcpStream = writer.as_ref();
            let now = Instant::now();
            // Bytes in the splice pipes came first: they go out before anything else.
            let spliced = self.relay.as_ref().map_or(0, SpliceRelay::held);
            let next = if spliced > 0 {
                Next::Idle
            } else {
                self.next(now)
            };
            let (piece, wait_until) = match next {
                Next::Close => {
                    self.count_slow_close();
                    let _ = writer.shutdown().await;
                    return FlowEnd::Closed;
                }
                Next::Limited(toxic) => return FlowEnd::Limited(toxic),
                Next::Write(piece) => (Some(piece), None),
                Next::WaitUntil(at) => (None, Some(at)),
                Next::Idle => (None, None),
            };
            let can_read = !self.eof && self.queued < self.shared.buffer;
            let splicing = can_read && self.queue.is_empty() && self.use_splice();
            let reading = can_read && !splicing && spliced == 0;
            if reading {
                buf.reserve(READ_CHUNK);
            }
            // A splice moves this pipeline's share of a round at most, like the reads it replaces.
            let splice_max = usize::try_from(self.ops_per_turn()).unwrap_or(1) * READ_CHUNK;
            let (front, back) = match self.relay.as_mut() {
                Some(relay) => {
                    let (front, back) = relay.split();
                    (Some(front), Some(back))
                }
                None => (None, None),
            };
            let fillable = splicing && back.as_ref().is_some_and(|b| b.is_empty());
            if !splicing {
                self.batching.stop(from);
            }
            let batch_deadline = if fillable {
                self.batching.deadline(now)
            } else {
                None
            };
            // One timer for both: a release time of the toxics, and the end of an idle batch.
            let wake_at = match (wait_until, batch_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return FlowEnd::Stopped;
                    }
                    self.take_up_change();
                }
                drained = drain(front, to), if spliced > 0 => {
                    ops += 1;
                    match drained {
                        Ok(n) => self.count_forwarded(n),
                        Err(_) => return FlowEnd::Failed,
                    }
                }
                written = write(to, piece.as_deref().unwrap_or_default()), if piece.is_some() => {
                    ops += 1;
                    match written {
                        Ok(n) => self.wrote(n, Instant::now()),
                        Err(_) => return FlowEnd::Failed,
                    }
                }
                () = sleep_until(wake_at.unwrap_or(now)), if wake_at.is_some() => {
                    // The flow went idle while batching: let the kernel report the bytes it holds.
                    if batch_deadline.is_some_and(|d| d <= Instant::now()) {
                        self.batching.stop(from);
                    }
                }
                filled = fill(back, from, splice_max), if fillable => {
                    ops += 1;
                    match filled {
                        Ok(0) => self.eof = true,
                        Ok(n) => self.batching.spliced(from, n),
                        Err(_) => return FlowEnd::Failed,
                    }
                }
                read = read(from, &mut buf), if reading => {
                    ops += 1;
                    match read {
                        Ok(0) => self.eof = true,
                        Ok(_) => self.arrived(buf.split().freeze(), Instant::now()),
                        Err(_) => return FlowEnd::Failed,
                    }
                }
            }
            if let Some(relay) = self.relay.as_mut() {
                relay.rotate();
            }
        }
    }

    /// This pipeline's share of a scheduler round.
    fn ops_per_turn(&self) -> u64 {
        let pipelines = 2 * self.shared.counters.active.get().max(1);
        (OPS_PER_ROUND / pipelines).max(MIN_OPS_PER_TURN)
    }

    /// Whether to forward the next bytes with `splice`: only when no toxic acts on this flow,
    /// and only for a bulk flow (small exchanges gain nothing and would cost a pipe each).
    fn use_splice(&mut self) -> bool {
        if !self.toxics.acting.is_empty() || self.sent < SPLICE_AFTER || self.splice_failed {
            return false;
        }
        if self.relay.is_none() {
            match SpliceRelay::new() {
                Ok(relay) => self.relay = Some(relay),
                Err(_) => {
                    // Out of descriptors, or no splice here: the buffered path still works.
                    self.splice_failed = true;
                    return false;
                }
            }
        }
        true
    }

    /// Count bytes written straight through (no toxic acted on them).
    fn count_forwarded(&mut self, n: usize) {
        self.sent += n as u64;
        match self.flow {
            Flow::Upstream => self.shared.counters.bytes_upstream.add(n as u64),
            Flow::Downstream => self.shared.counters.bytes_downstream.add(n as u64),
        }
    }

    fn take_up_change(&mut self) {
        let set = self.rx.borrow_and_update().clone();
        self.toxics = FlowToxics::new(&set, self.shared.seed, self.conn.id, self.flow);
        self.rebase_limit();
        self.shared
            .registry
            .ack(&self.conn, Part::Pipeline(self.flow), set.version);
    }

    /// A `limit_data` toxic counts bytes from when it reached this connection.
    fn rebase_limit(&mut self) {
        self.limit_base = match (self.toxics.limit, self.limit_base) {
            (Some((id, _)), Some((base_id, base))) if id == base_id => Some((id, base)),
            (Some((id, _)), _) => Some((id, self.sent)),
            (None, _) => None,
        };
    }

    fn next(&mut self, now: Instant) -> Next {
        let limit_left = match (self.toxics.limit, self.limit_base) {
            (Some((id, limit)), Some((_, base))) => {
                Some((id, limit.bytes.saturating_sub(self.sent - base)))
            }
            _ => None,
        };
        if let Some((id, 0)) = limit_left {
            if let Some(toxic) = self.toxics.acting.iter().find(|t| t.id == id) {
                return Next::Limited(toxic.clone());
            }
        }
        let Some(head) = self.queue.front() else {
            if self.eof && !self.toxics.blackhole {
                let drained = *self.drained_at.get_or_insert(now);
                let at = drained + self.toxics.slow_close.unwrap_or_default();
                return if at <= now {
                    Next::Close
                } else {
                    Next::WaitUntil(at)
                };
            }
            return Next::Idle;
        };
        if self.toxics.blackhole {
            return Next::Idle;
        }
        let mut ready = head.arrived;
        if let Some(latency) = self.toxics.latency {
            let due = head.arrived + latency.latency;
            ready = if head.jitter_ns >= 0 {
                due + Duration::from_nanos(head.jitter_ns.unsigned_abs())
            } else {
                due.checked_sub(Duration::from_nanos(head.jitter_ns.unsigned_abs()))
                    .unwrap_or(head.arrived)
                    .max(head.arrived)
            };
        }
        if self.toxics.bandwidth.is_some() {
            self.paced = ready <= self.pacer.ready_at();
            ready = ready.max(self.pacer.ready_at());
        }
        if self.toxics.slicer.is_some() {
            ready = ready.max(self.slice_ready);
        }
        if ready > now {
            return Next::WaitUntil(ready);
        }
        let mut len = head.data.len() - self.head_offset;
        if let Some(bandwidth) = self.toxics.bandwidth {
            len = len.min(bandwidth.max_piece());
        }
        if let Some(slicer) = self.toxics.slicer {
            if self.slice_left == 0 {
                self.slice_left = slicer.next_size(&mut self.rng);
            }
            len = len.min(self.slice_left);
        }
        if let Some((_, remaining)) = limit_left {
            len = len.min(usize::try_from(remaining).unwrap_or(usize::MAX));
        }
        let start = self.head_offset;
        Next::Write(head.data.slice(start..start + len))
    }

    fn arrived(&mut self, data: Bytes, now: Instant) {
        let jitter_ns = match self.toxics.latency {
            Some(latency) => latency.sample_jitter(&mut self.rng),
            None => 0,
        };
        let len = data.len();
        if self.toxics.blackhole {
            self.shared.counters.bytes_held.add(len as u64);
            let holding: Vec<_> = self
                .toxics
                .of(|t| matches!(t, Toxic::Timeout(_)))
                .cloned()
                .collect();
            for toxic in holding {
                toxic.counters.bytes.add(len as u64);
                if self.touch(&toxic) {
                    self.shared.counters.timed_out.incr();
                }
            }
        }
        self.queued += len;
        self.queue.push_back(Chunk {
            data,
            arrived: now,
            jitter_ns,
        });
    }

    fn wrote(&mut self, n: usize, now: Instant) {
        self.count_forwarded(n);
        if self.toxics.delays() {
            self.shared.counters.bytes_delayed.add(n as u64);
            let delaying: Vec<_> = self
                .toxics
                .of(|t| {
                    matches!(
                        t,
                        Toxic::Latency(_) | Toxic::Bandwidth(_) | Toxic::Slicer(_)
                    )
                })
                .cloned()
                .collect();
            for toxic in delaying {
                toxic.counters.bytes.add(n as u64);
                self.touch(&toxic);
            }
        }
        if let Some(bandwidth) = self.toxics.bandwidth {
            self.pacer.wrote(&bandwidth, n, now, self.paced);
        }
        if let Some(slicer) = self.toxics.slicer {
            self.slice_left = self.slice_left.saturating_sub(n);
            if self.slice_left == 0 {
                self.slice_ready = now + slicer.delay;
            }
        }
        self.head_offset += n;
        self.queued -= n;
        if self
            .queue
            .front()
            .is_some_and(|head| self.head_offset >= head.data.len())
        {
            self.queue.pop_front();
            self.head_offset = 0;
        }
    }

    /// Count `toxic` as acting on this connection, once. Returns whether this was the first time.
    fn touch(&mut self, toxic: &ActiveToxic) -> bool {
        if !self.touched.insert(toxic.id) || !self.conn.first_touch(toxic.id) {
            return false;
        }
        toxic.counters.connections.incr();
        true
    }

    fn count_slow_close(&mut self) {
        let closing: Vec<_> = self
            .toxics
            .of(|t| matches!(t, Toxic::SlowClose(_)))
            .cloned()
            .collect();
        for toxic in closing {
            toxic.counters.closed.incr();
            self.touch(&toxic);
        }
    }
}

/// Read what `from` has into `buf`. Cancel-safe: the read itself never waits.
async fn read(from: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        from.readable().await?;
        match from.try_read_buf(buf) {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// Write some of `piece` to `to`. Cancel-safe: the write itself never waits.
async fn write(to: &TcpStream, piece: &[u8]) -> std::io::Result<usize> {
    loop {
        to.writable().await?;
        match to.try_write(piece) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn fill(
    pipe: Option<&mut SplicePipe>,
    from: &TcpStream,
    max: usize,
) -> std::io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.fill(from, max).await,
        None => std::future::pending().await,
    }
}

async fn drain(pipe: Option<&mut SplicePipe>, to: &TcpStream) -> std::io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.drain(to).await,
        None => std::future::pending().await,
    }
}
