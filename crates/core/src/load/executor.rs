//! Executors: how many virtual users run, and for how long. The closed-model ones are here;
//! the open model (arrival rates) is in [`super::open`].
//!
//! - rounds: `concurrency` VUs each run one iteration per round, concurrently; the next round
//!   starts when every VU has finished. A VU keeps its clients (and pools) across rounds.
//! - VUs × duration: every VU loops over its scenario until the duration has passed; an
//!   iteration in flight at the end runs to its end (bounded by the request timeouts and the
//!   run's deadline), or to the test's graceful stop, when its requests are cancelled.
//! - VUs × iterations: the VUs share one counter of iterations.
//!
//! Slots are given scenarios by the weighted mix (largest remainder, see [`super::mix`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::mix;
use super::vu::{Flow, Runtime, VirtualUser};
use crate::metrics::aggregator::Event;
use shakedown_plan::model::Executor;

/// How many iterations the executor will run, if known in advance (for progress).
pub fn planned_iterations(executor: &Executor) -> Option<u64> {
    match *executor {
        Executor::Rounds {
            concurrency,
            rounds,
        } => Some(u64::from(concurrency) * u64::from(rounds)),
        Executor::VusDuration { .. } => None,
        Executor::VusIterations { iterations, .. } => Some(iterations),
        Executor::Arrival(ref rate) => Some(rate.planned_sends()),
    }
}

/// How long the executor sends for, if it has a duration (its end is where a graceful stop
/// starts).
pub fn duration(executor: &Executor) -> Option<std::time::Duration> {
    match executor {
        Executor::VusDuration { duration, .. } => Some(*duration),
        Executor::Arrival(rate) => Some(rate.duration()),
        Executor::Rounds { .. } | Executor::VusIterations { .. } => None,
    }
}

/// Run `executor` to completion or until the test stops.
pub async fn run(rt: Arc<Runtime>, executor: &Executor, tx: &mpsc::Sender<Event>) {
    match *executor {
        Executor::Rounds {
            concurrency,
            rounds,
        } => run_rounds(&rt, concurrency, rounds, tx).await,
        Executor::VusDuration { vus, duration } => {
            let end = Instant::now() + duration;
            run_loops(&rt, vus, tx, move || Instant::now() < end).await;
        }
        Executor::VusIterations { vus, iterations } => {
            let claimed = Arc::new(AtomicU64::new(0));
            run_loops(&rt, vus, tx, move || {
                claimed.fetch_add(1, Ordering::Relaxed) < iterations
            })
            .await;
        }
        Executor::Arrival(ref rate) => super::open::run(&rt, rate, tx).await,
    }
}

/// The VUs of `slots` slots, each with its scenario from the mix.
fn make_vus(rt: &Arc<Runtime>, slots: u32, tx: &mpsc::Sender<Event>) -> Vec<VirtualUser> {
    let weights: Vec<u32> = rt.prepared.scenarios.iter().map(|s| s.weight).collect();
    mix::assign(slots, &weights)
        .into_iter()
        .zip(1u32..)
        .map(|(scenario, vu)| VirtualUser::new(rt.clone(), scenario, vu, tx.clone()))
        .collect()
}

async fn run_rounds(rt: &Arc<Runtime>, concurrency: u32, rounds: u32, tx: &mpsc::Sender<Event>) {
    let mut vus = make_vus(rt, concurrency, tx);
    for round in 0..rounds {
        if rt.stop.is_stopped() || vus.is_empty() {
            break;
        }
        let mut set = JoinSet::new();
        for mut vu in vus.drain(..) {
            set.spawn(async move {
                vu.iterate(u64::from(round)).await;
                vu.flush().await;
                vu
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(vu) => vus.push(vu),
                Err(e) => tracing::error!(error = %e, "load: a virtual user task failed"),
            }
        }
    }
}

/// Spawn `count` VUs that each loop while `more` allows another iteration (asked before each).
async fn run_loops<F>(rt: &Arc<Runtime>, count: u32, tx: &mpsc::Sender<Event>, more: F)
where
    F: Fn() -> bool + Send + Sync + 'static,
{
    let more = Arc::new(more);
    let mut set = JoinSet::new();
    for mut vu in make_vus(rt, count, tx) {
        let more = more.clone();
        set.spawn(async move {
            let mut iteration = 0u64;
            while !vu.stopped() && more() {
                if vu.iterate(iteration).await == Flow::Stop {
                    break;
                }
                iteration += 1;
            }
            vu.flush().await;
        });
    }
    while let Some(joined) = set.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "load: a virtual user task failed");
        }
    }
}
