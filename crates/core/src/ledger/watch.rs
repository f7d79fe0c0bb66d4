//! The ledger's watch: reads of tracked keys while the load and fault tests run, so that time to
//! terminal is measured rather than bounded by when settle began, and a brief regression is seen
//! (DESIGN section 7: "the ledger observes during the run too, within a read budget").
//!
//! The engine [`Watcher::start`]s it before the load tests and [`Watcher::stop`]s it before
//! settle. It records nothing itself: each read goes through [`settle::read_key`], which records
//! its invoke and completion in the history like a settle poll (process `watch`, `f` = `read`),
//! and the checker folds it into the key's trace. Which key is read when is the
//! [`Schedule`]'s; how many reads may start, the [`Allowance`]'s; every read also takes one
//! request of the run's budget (`limits.requests`), and a spent budget or a passed deadline
//! stops the watch for the rest of the run. At most [`WATCH_CONCURRENCY`] reads are in flight, one
//! while reads are slow: the watch observes the service, and must not become a second load on it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::budget::{RequestBudget, StopReason};
use crate::ledger::history::{Ledger, TrackedKey};
use crate::ledger::observe::{is_settled, track_at};
use crate::ledger::record::OpFn;
use crate::ledger::settle::{self, Clients};
use crate::ledger::watch_schedule::{Allowance, Refusal, Schedule, Seen};
use shakedown_plan::model::{Plan, StepKind};

/// Reads in flight at once during the run. Few, and one only while reads take longer than the
/// read interval: against a service whose latency grows with the requests in flight, the watch's
/// own reads must not slow the load it observes; a read that takes long simply makes the next
/// ones later (the precision of those keys' time to terminal then says so).
pub const WATCH_CONCURRENCY: usize = 4;

/// The `process` of the watch's reads in the history.
pub const WATCH_PROCESS: &str = "watch";

/// Shortest pause between two looks at the ledger's registry for new keys.
const MIN_SYNC: Duration = Duration::from_millis(10);

/// What the watch did during the run: `run.watch` in `report.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchSummary {
    /// Tracked keys with a read, registered before the watch stopped.
    pub keys: u64,
    /// Keys a watch read saw with every job terminal: their time to terminal is measured.
    pub terminal_keys: u64,
    /// Reads made, each recorded in the history.
    pub reads: u64,
    /// Requests the load itself had sent when the watch stopped (the reads' share is taken of
    /// these).
    #[serde(default)]
    pub load_requests: u64,
    /// Of them, reads that failed (no answer, an error status, a bad body, abandoned when the
    /// run was cancelled).
    pub failed_reads: u64,
    /// Due reads skipped because the reads had reached `settle.watch.share` of the requests
    /// the load had sent.
    pub skipped_for_share: u64,
    /// Times the `settle.watch.max_rate` cap made due reads wait.
    pub rate_waits: u64,
    /// A bound of the run that stopped the watch before settle: the request budget
    /// (`limits.requests`) spent, or the run's deadline passed.
    pub stopped: Option<WatchStop>,
}

/// Which bound of the run stopped the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchStop {
    /// `limits.requests` was spent.
    RequestLimit,
    /// `limits.duration` passed.
    DurationLimit,
}

impl WatchSummary {
    /// One sentence for people, e.g. "The ledger read tracked work during the run: 120 reads of
    /// 40 keys, 38 seen terminal; 3 failed."
    pub fn describe(&self) -> String {
        let mut text = format!(
            "The ledger read tracked work during the run: {} reads of {} keys (the load sent {} \
             requests), {} seen terminal",
            self.reads, self.keys, self.load_requests, self.terminal_keys
        );
        if self.failed_reads > 0 {
            text.push_str(&format!("; {} failed", self.failed_reads));
        }
        if self.skipped_for_share > 0 {
            text.push_str(&format!(
                "; {} due reads skipped (settle.watch.share of the requests sent was reached)",
                self.skipped_for_share
            ));
        }
        if self.rate_waits > 0 {
            text.push_str(&format!(
                "; held back {} times by settle.watch.max_rate",
                self.rate_waits
            ));
        }
        match self.stopped {
            Some(WatchStop::RequestLimit) => {
                text.push_str("; stopped early: limits.requests was spent")
            }
            Some(WatchStop::DurationLimit) => {
                text.push_str("; stopped early: limits.duration passed")
            }
            None => {}
        }
        text.push('.');
        text
    }
}

/// The running watch. Dropping it cancels it without waiting.
#[derive(Debug)]
pub struct Watcher {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<WatchSummary>,
    _guard: DropGuard,
}

impl Watcher {
    /// Start watching `ledger`'s keys, taking each read from `budget`, until [`stop`](Self::stop)
    /// or `parent` is cancelled. None when `settle.watch.enabled` is false or the plan tracks
    /// nothing.
    pub fn start(
        ledger: Arc<Ledger>,
        budget: Arc<RequestBudget>,
        parent: &CancellationToken,
    ) -> Option<Watcher> {
        let plan = ledger.plan();
        if !plan.settle.watch.enabled || !tracks_work(plan) {
            return None;
        }
        let cancel = parent.child_token();
        let task = {
            let (cancel, abort) = (cancel.clone(), parent.clone());
            tokio::spawn(async move { watch(&ledger, &budget, &cancel, &abort).await })
        };
        Some(Watcher {
            _guard: cancel.clone().drop_guard(),
            cancel,
            task,
        })
    }

    /// Stop reading (reads in flight end first, within their target's request timeout, unless
    /// the run itself is cancelled) and say what the watch did.
    pub async fn stop(self) -> WatchSummary {
        self.cancel.cancel();
        match self.task.await {
            Ok(summary) => summary,
            Err(error) => {
                tracing::warn!(%error, "ledger watch: the task ended abnormally");
                WatchSummary::default()
            }
        }
    }
}

/// Whether any step of the plan is tracked.
fn tracks_work(plan: &Plan) -> bool {
    plan.scenarios.values().any(|s| {
        s.steps
            .iter()
            .any(|step| matches!(&step.kind, StepKind::Http(http) if http.track.is_some()))
    })
}

/// How one read ended.
struct Finished {
    slot: usize,
    generation: u32,
    started: Instant,
    seen: Seen,
}

/// Read `key` once, through `read_key` (which records it).
async fn read_one(
    ledger: &Ledger,
    clients: &Clients,
    key: Arc<TrackedKey>,
    slot: usize,
    generation: u32,
    cancel: &CancellationToken,
) -> Finished {
    let started = Instant::now();
    let read = settle::read_key(
        ledger,
        clients,
        &key,
        OpFn::Read,
        None,
        cancel,
        WATCH_PROCESS,
    );
    let seen = match read.await {
        Ok(done) => {
            let terminal = done.jobs > 0
                && track_at(ledger.plan(), &key.scenario, key.step)
                    .is_some_and(|track| is_settled(track, &done.items));
            if terminal {
                Seen::Terminal
            } else {
                Seen::NotTerminal
            }
        }
        Err(_) => Seen::Failed,
    };
    Finished {
        slot,
        generation,
        started,
        seen,
    }
}

/// Watch until `cancel`, or until a bound of the run stops it, then return once the reads in
/// flight have ended (`abort`, the run's own cancellation, abandons them). Every read is
/// recorded in the history by `read_key`.
pub(crate) async fn watch(
    ledger: &Ledger,
    budget: &RequestBudget,
    cancel: &CancellationToken,
    abort: &CancellationToken,
) -> WatchSummary {
    let config = ledger.plan().settle.watch;
    let clients = Clients::default();
    let mut schedule = Schedule::new(config.interval, config.confirm);
    let mut allowance = Allowance::new(config.share, config.max_rate, Instant::now());
    let mut keys: Vec<Arc<TrackedKey>> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut summary = WatchSummary::default();
    let sync_every = config.interval.max(MIN_SYNC);
    let mut next_sync = Instant::now();
    let mut rate_wake: Option<Instant> = None;

    // Reads in flight allowed now: one while the service answers reads slower than the read
    // interval (it is struggling, and every read in flight may slow it further), else a few.
    let mut concurrency = WATCH_CONCURRENCY;
    while !cancel.is_cancelled() && summary.stopped.is_none() {
        let now = Instant::now();
        if now >= next_sync {
            sync(ledger, &mut keys, &mut schedule, now);
            next_sync = now + sync_every;
        }
        if rate_wake.is_some_and(|at| at <= now) {
            rate_wake = None;
        }
        while rate_wake.is_none() && in_flight.len() < concurrency {
            let Some(slot) = schedule.take_due(now) else {
                break;
            };
            let load_sent = load_requests(budget, &allowance);
            match allowance.check(now, load_sent) {
                Ok(()) => {}
                Err(Refusal::Share) => {
                    schedule.skip(slot, now);
                    summary.skipped_for_share += 1;
                    continue;
                }
                Err(Refusal::Rate(at)) => {
                    schedule.put_back(slot);
                    summary.rate_waits += 1;
                    rate_wake = Some(at);
                    break;
                }
            }
            if let Err(reason) = budget.take() {
                schedule.put_back(slot);
                summary.stopped = Some(match reason {
                    StopReason::RequestLimit => WatchStop::RequestLimit,
                    StopReason::DurationLimit | StopReason::Cancelled => WatchStop::DurationLimit,
                });
                break;
            }
            allowance.take();
            schedule.start(slot);
            summary.reads += 1;
            let generation = schedule.generation(slot);
            let key = keys[slot].clone();
            in_flight.push(read_one(ledger, &clients, key, slot, generation, abort));
        }
        if summary.stopped.is_some() {
            break;
        }
        // A due read that waits for a free slot or the rate cap must not wake the loop.
        let due = (rate_wake.is_none() && in_flight.len() < concurrency)
            .then(|| schedule.next_due())
            .flatten();
        let wake = [due, rate_wake, Some(next_sync)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_sync);
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                concurrency = if done.started.elapsed() > config.interval {
                    1
                } else {
                    WATCH_CONCURRENCY
                };
                finish(&mut schedule, &mut summary, done);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    // Reads in flight end by themselves (bounded by the request timeout), or at once when the
    // run is cancelled, recorded as abandoned.
    while let Some(done) = in_flight.next().await {
        finish(&mut schedule, &mut summary, done);
    }
    summary.keys = keys.iter().filter(|k| k.read.is_ok()).count() as u64;
    summary.load_requests = load_requests(budget, &allowance);
    summary.terminal_keys = schedule.seen_terminal() as u64;
    tracing::info!(
        keys = summary.keys,
        terminal_keys = summary.terminal_keys,
        reads = summary.reads,
        failed_reads = summary.failed_reads,
        skipped_for_share = summary.skipped_for_share,
        rate_waits = summary.rate_waits,
        stopped = ?summary.stopped,
        "ledger watch done"
    );
    summary
}

/// Requests the load itself has sent: the run's budget used, less the watch's own reads.
fn load_requests(budget: &RequestBudget, allowance: &Allowance) -> u64 {
    budget.used().saturating_sub(allowance.granted())
}

fn finish(schedule: &mut Schedule, summary: &mut WatchSummary, done: Finished) {
    if done.seen == Seen::Failed {
        summary.failed_reads += 1;
    }
    schedule.finish(
        done.slot,
        done.generation,
        done.seen,
        done.started,
        Instant::now(),
    );
}

/// Bring the schedule up to the ledger's registry: new keys are added, replaced ones (a key
/// submitted again) start afresh.
fn sync(ledger: &Ledger, keys: &mut Vec<Arc<TrackedKey>>, schedule: &mut Schedule, now: Instant) {
    let registry = ledger.tracked_keys();
    for (slot, key) in registry.into_iter().enumerate() {
        match keys.get_mut(slot) {
            Some(known) if Arc::ptr_eq(known, &key) => {}
            Some(known) => {
                schedule.replace(slot, key.read.is_ok(), now);
                *known = key;
            }
            None => {
                schedule.add(key.read.is_ok(), now);
                keys.push(key);
            }
        }
    }
    debug_assert_eq!(keys.len(), schedule.len());
}
