//! The open-model executor: iterations start on a schedule fixed in advance (constant or
//! ramping rate, uniform or Poisson spacing), whether or not earlier ones have finished.
//!
//! A dispatcher walks the [`SendSchedule`]. At each send's intended start it takes an idle
//! virtual user from a bounded pool (`max_in_flight`) and starts one iteration on it in its own
//! task; the iteration's first request is timed from the intended start, so the time spent
//! waiting to be sent counts in its latency (wrk2's correction for coordinated omission, done by
//! construction rather than after the fact). If every VU is busy, the send is **dropped**: it
//! is counted (per second, by intended start) and never silently skipped. When the schedule's
//! time is up, the sends it could not reach are dropped too.
//!
//! The VUs of the pool share one reqwest client (one connection pool) per https or HTTP/2
//! target, so a burst of in-flight sends opens connections as it needs them instead of building
//! clients. On a plain http target each VU of the pool keeps its own keep-alive connection (the
//! lean client, [`super::http1_client`]); idle VUs are taken last-in first-out, so the
//! connections of the busiest VUs stay warm.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::http;
use super::mix;
use super::schedule::SendSchedule;
use super::vu::{Runtime, VirtualUser};
use crate::metrics::aggregator::Event;
use shakedown_plan::model::ArrivalRate;

/// How late past the end of the schedule the dispatcher may still send: sends it reaches later
/// than this are dropped, so a generator that cannot keep up still ends on time.
const END_GRACE: Duration = Duration::from_secs(1);

/// Run the open-model executor `rate` to the end of its schedule or until the test stops.
pub async fn run(rt: &Arc<Runtime>, rate: &ArrivalRate, tx: &mpsc::Sender<Event>) {
    let seed = rt.prepared.seed ^ ((rt.prepared.index as u64) << 32) ^ 0x6F70_656E;
    let schedule = SendSchedule::new(rate, seed);
    let Some(clients) = shared_clients(rt) else {
        return;
    };
    let mut pool = Pool::new(rt, rate.max_in_flight, clients, tx);
    let start = Instant::now();
    let end = start + rate.duration();
    let token = rt.stop.token().clone();
    let mut running: JoinSet<VirtualUser> = JoinSet::new();
    for (index, offset) in schedule.enumerate() {
        if rt.stop.is_stopped() {
            break;
        }
        let intended = start + offset;
        if intended > Instant::now() {
            tokio::select! {
                biased;
                _ = token.cancelled() => break,
                _ = tokio::time::sleep_until(intended) => {}
            }
        }
        // Collect the VUs whose iterations ended, without waiting for any.
        while let Some(joined) = running.try_join_next() {
            pool.give_back(joined);
        }
        let late = Instant::now() > end + END_GRACE;
        let vu = if late { None } else { pool.take() };
        let Some(mut vu) = vu else {
            if tx.send(Event::Dropped { intended }).await.is_err() {
                break;
            }
            continue;
        };
        vu.intended = Some(intended);
        running.spawn(async move {
            vu.iterate(index as u64).await;
            // An idle VU may wait long for its next send: its samples go now.
            vu.flush().await;
            vu
        });
    }
    while let Some(joined) = running.join_next().await {
        pool.give_back(joined);
    }
}

/// One client per target, shared by every VU of the pool.
fn shared_clients(rt: &Arc<Runtime>) -> Option<Vec<Option<reqwest::Client>>> {
    let mut clients = Vec::with_capacity(rt.prepared.targets.len());
    for target in &rt.prepared.targets {
        if target.lean {
            // Its requests take each VU's lean client; a VU builds a reqwest client for it
            // only if it is redirected.
            clients.push(None);
            continue;
        }
        match http::client(target) {
            Ok(c) => clients.push(Some(c)),
            // The steps that use it build their own and report the failure as theirs.
            Err(e) => {
                tracing::warn!(target = %target.name, error = %e, "load: cannot build a shared client");
                clients.push(None);
            }
        }
    }
    Some(clients)
}

/// The bounded pool of virtual users: idle ones, and how many exist.
struct Pool<'a> {
    rt: &'a Arc<Runtime>,
    idle: Vec<VirtualUser>,
    created: u32,
    max: u32,
    clients: Vec<Option<reqwest::Client>>,
    tx: &'a mpsc::Sender<Event>,
    /// How many slots each scenario of the weighted mix gets (slot to scenario by
    /// [`mix::entry_of`], so nothing is sized by `max_in_flight` up front).
    scenarios: Vec<u32>,
}

impl<'a> Pool<'a> {
    fn new(
        rt: &'a Arc<Runtime>,
        max: u32,
        clients: Vec<Option<reqwest::Client>>,
        tx: &'a mpsc::Sender<Event>,
    ) -> Pool<'a> {
        let weights: Vec<u32> = rt.prepared.scenarios.iter().map(|s| s.weight).collect();
        Pool {
            rt,
            idle: Vec::new(),
            created: 0,
            max: max.max(1),
            clients,
            tx,
            scenarios: mix::allocate(max.max(1), &weights),
        }
    }

    /// An idle VU, a new one if the pool is not full yet, or None if every VU is busy.
    fn take(&mut self) -> Option<VirtualUser> {
        if let Some(vu) = self.idle.pop() {
            return Some(vu);
        }
        if self.created >= self.max {
            return None;
        }
        let scenario = mix::entry_of(self.created, &self.scenarios)?;
        self.created += 1;
        let mut vu = VirtualUser::new(self.rt.clone(), scenario, self.created, self.tx.clone());
        vu.clients.clone_from(&self.clients);
        Some(vu)
    }

    fn give_back(&mut self, joined: Result<VirtualUser, tokio::task::JoinError>) {
        match joined {
            Ok(vu) => self.idle.push(vu),
            Err(e) => {
                // The slot is lost with the task; make room for a replacement.
                tracing::error!(error = %e, "load: a virtual user task failed");
                self.created = self.created.saturating_sub(1);
            }
        }
    }
}
