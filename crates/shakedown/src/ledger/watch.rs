//! The ledger's watch: reads of tracked keys while the load and fault tests run, so that time to
//! terminal is measured rather than bounded by when settle began, and a brief regression is seen
//! (DESIGN section 7: "the ledger observes during the run too, within a read budget").
//!
//! The engine [`Watcher::start`]s it before the load tests and [`Watcher::stop`]s it before
//! settle. It records nothing itself: each read goes through [`settle::read_key`], which records
//! its invoke and completion in the history like a settle poll (process `settle`, `f` = `read`),
//! and the checker folds it into the key's trace. Which key is read when is the
//! [`Schedule`]'s; how many reads may start, the [`Allowance`]'s; every read also takes one
//! request of the run's budget (`limits.requests`), and a spent budget or a passed deadline
//! stops the watch for the rest of the run. At most [`READ_CONCURRENCY`] reads are in flight.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ledger::history::{Ledger, TrackedKey};
use crate::ledger::observe::{is_settled, track_at};
use crate::ledger::record::OpFn;
use crate::ledger::settle::{self, Clients, READ_CONCURRENCY};
use crate::ledger::watch_schedule::{Allowance, Refusal, Schedule, Seen};
use crate::load::{RequestBudget, StopReason};
use crate::plan::model::{Plan, StepKind};

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
    /// Of them, reads that failed (no answer, an error status, a bad body, cancelled at stop).
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
            "The ledger read tracked work during the run: {} reads of {} keys, {} seen terminal",
            self.reads, self.keys, self.terminal_keys
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
            let cancel = cancel.clone();
            tokio::spawn(async move { watch(&ledger, &budget, &cancel).await })
        };
        Some(Watcher {
            _guard: cancel.clone().drop_guard(),
            cancel,
            task,
        })
    }

    /// Stop reading (reads in flight are abandoned and recorded as such) and say what the watch
    /// did.
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
    let seen = match settle::read_key(ledger, clients, &key, OpFn::Read, None, cancel).await {
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

/// Watch until `cancel`, or until a bound of the run stops it (then return once the reads in
/// flight have ended). Every read is recorded in the history by `read_key`.
pub(crate) async fn watch(
    ledger: &Ledger,
    budget: &RequestBudget,
    cancel: &CancellationToken,
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

    while !cancel.is_cancelled() && summary.stopped.is_none() {
        let now = Instant::now();
        if now >= next_sync {
            sync(ledger, &mut keys, &mut schedule, now);
            next_sync = now + sync_every;
        }
        if rate_wake.is_some_and(|at| at <= now) {
            rate_wake = None;
        }
        while rate_wake.is_none() && in_flight.len() < READ_CONCURRENCY {
            let Some(slot) = schedule.take_due(now) else {
                break;
            };
            let load_sent = budget.used().saturating_sub(allowance.granted());
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
            in_flight.push(read_one(ledger, &clients, key, slot, generation, cancel));
        }
        if summary.stopped.is_some() {
            break;
        }
        // A due read that waits for a free slot or the rate cap must not wake the loop.
        let due = (rate_wake.is_none() && in_flight.len() < READ_CONCURRENCY)
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
                finish(&mut schedule, &mut summary, done);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    // Reads in flight end promptly once cancelled, and are recorded as abandoned.
    while let Some(done) = in_flight.next().await {
        finish(&mut schedule, &mut summary, done);
    }
    summary.keys = keys.iter().filter(|k| k.read.is_ok()).count() as u64;
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
