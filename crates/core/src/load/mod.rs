//! Load generation, closed model: executors, virtual users and HTTP steps.
//!
//! [`run_load_test`] prepares a test once ([`prepared`]), starts one aggregator task that owns
//! the statistics ([`crate::metrics::aggregator`]), one task per gauge sampler ([`sampler`]), an
//! optional progress bar ([`progress`]), and the executor ([`executor`]), whose virtual users
//! ([`vu`], [`step`]) send samples over a bounded channel. It returns the mergeable measurements,
//! their summary, and why the test stopped early, if it did.
//!
//! Bounds: every request takes a unit of the run's [`RequestBudget`]; a spent budget or the
//! run's deadline stops the test, and cancellation abandons requests in flight. A test with a
//! `graceful_stop` abandons the requests still in flight that long after its executor's
//! duration; they are counted as cancelled. The partial measurements are returned in every case.

pub mod executor;
pub mod http;
pub mod http1_chunked;
pub mod http1_client;
pub mod http1_head;
pub mod http1_request;
pub mod mix;
pub mod open;
#[cfg(test)]
mod open_tests;
pub mod prepared;
#[cfg(test)]
mod prepared_tests;
pub mod progress;
pub mod redirect;
pub mod sampler;
pub mod schedule;
pub mod scope;
pub mod sse;
pub mod sse_parse;
pub mod sse_wire;
mod step;
mod step_judge;
pub(crate) use step_judge::{describe as describe_status, json_matches};
#[cfg(test)]
mod stop_tests;
pub mod stream;
pub mod stream_expect;
#[cfg(test)]
mod stream_server;
#[cfg(test)]
mod stream_tests;
mod tcp_connect;
#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;
pub mod track;
pub mod vu;
pub mod ws;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::budget::{RequestBudget, StopReason};

use crate::budget::StopSignal;
use crate::ledger::history::Ledger;
use crate::metrics::Measurements;
use crate::metrics::aggregator::{Aggregator, CHANNEL_CAPACITY, LiveCounters};
use crate::metrics::summary::LoadSummary;
use prepared::PreparedTest;
use progress::Progress;
use shakedown_plan::model::{LoadTest, Plan};
use shakedown_plan::redact::Redactor;
use track::TrackSink;
use vu::Runtime;

/// What every load test of a run shares.
#[derive(Debug, Clone)]
pub struct LoadEnv {
    /// The plan.
    pub plan: Arc<Plan>,
    /// The run's ledger, where tracked submits are recorded.
    pub ledger: Arc<Ledger>,
    /// The run's request budget and deadline, shared by all tests.
    pub budget: Arc<RequestBudget>,
    /// Draw an indicatif bar on stderr (only if it is a terminal).
    pub progress: bool,
    /// The run's unique id, mixed into `uuid()` so that keys differ between runs.
    pub run_id: String,
    /// The start of the run: second 0 of every test's per-second windows.
    pub run_start: Instant,
}

/// The result of one load test.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// The aggregator's final, mergeable state.
    pub measurements: Measurements,
    /// The summary the report embeds.
    pub summary: LoadSummary,
    /// None if the test ran to completion.
    pub stopped: Option<StopReason>,
}

/// Run one load test until its executor completes, the budget or deadline stops it, or `cancel`
/// fires. Always returns the measurements taken so far.
pub async fn run_load_test(
    env: &LoadEnv,
    test: &LoadTest,
    cancel: CancellationToken,
) -> LoadOutcome {
    let started = Instant::now();
    let prepared = PreparedTest::new(&env.plan, test, &env.run_id);
    let step_names = prepared.step_names.clone();
    let stream_slots = prepared.stream_slots();
    let gauge_names: Vec<String> = test.samplers.iter().map(|s| s.name.clone()).collect();
    let live = Arc::new(LiveCounters::default());
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let aggregator = Aggregator::new(
        &step_names,
        &gauge_names,
        Redactor::new(&env.plan.secrets),
        live.clone(),
    )
    .with_origin(env.run_start)
    .with_streams(stream_slots)
    .spawn(rx);

    let rt = Arc::new(Runtime {
        prepared,
        budget: env.budget.clone(),
        stop: StopSignal::new(&cancel),
        track: TrackSink {
            ledger: env.ledger.clone(),
            test: test.id.clone(),
        },
        body_cap: http::BODY_CAP,
    });
    // The run's deadline abandons requests in flight, like cancellation; so does the end of
    // the executor's duration plus its graceful stop, if the test has one.
    let deadline = env.budget.deadline();
    let ends = executor::duration(&test.executor)
        .zip(test.graceful_stop)
        .map(|(duration, grace)| Instant::now() + duration + grace);
    let watchdog = {
        let rt = rt.clone();
        tokio::spawn(async move {
            let end = async {
                match ends {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    rt.stop.stop(StopReason::DurationLimit);
                }
                () = end => rt.stop.end(),
                _ = rt.stop.token().cancelled() => {}
            }
        })
    };
    let samplers_done = rt.stop.token().child_token();
    let samplers = sampler::spawn(&rt, &env.plan, &test.samplers, &tx, &samplers_done);
    let progress = Progress::start(
        env.progress,
        &test.id,
        executor::planned_iterations(&test.executor),
        live,
    );

    executor::run(rt.clone(), &test.executor, &tx).await;
    let stopped = rt.stop.reason(deadline);

    samplers_done.cancel();
    for task in samplers {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "load: a gauge sampler failed");
        }
    }
    watchdog.abort();
    drop(tx);
    let mut measurements = match aggregator.await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "load: the aggregator failed; its figures are lost");
            Measurements::new(step_names.iter().map(String::as_str))
        }
    };
    measurements.elapsed = started.elapsed();
    measurements.started = started.saturating_duration_since(env.run_start);
    if let shakedown_plan::model::Executor::Arrival(rate) = &test.executor {
        measurements.target_rate = Some(rate.expected_sends() / rate.duration().as_secs_f64());
    }
    let summary = measurements.summary();
    for warning in &summary.warnings {
        tracing::warn!(test = %test.id, "{warning}");
    }
    if let Some(p) = progress {
        p.finish();
    }
    LoadOutcome {
        summary,
        measurements,
        stopped,
    }
}
