//! A virtual user: one scenario, run one iteration at a time, with its own HTTP clients (its own
//! connection pools), its own seeded RNG for think time, and its own template scope.
//!
//! An iteration runs the scenario's steps in order. A failed step ends the iteration (it counts
//! as failed) and the VU goes on with its next one; a stop (cancellation, the deadline, a spent
//! budget) ends the VU.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::http;
use super::http1_client::Http1Client;
use super::prepared::{PreparedStep, PreparedTest, StepAction};
use super::scope::VuScope;
use super::track::TrackSink;
use crate::budget::{RequestBudget, StopSignal};
use crate::metrics::aggregator::{Event, Failure, RequestSample};

/// Most events a VU batches before sending them to the aggregator.
const BATCH: usize = 64;
/// Longest an event waits in a VU's batch, so that the live counters stay current.
const BATCH_WAIT: Duration = Duration::from_millis(100);

/// Everything the VUs of one load test share.
#[derive(Debug)]
pub struct Runtime {
    /// The test, prepared.
    pub prepared: PreparedTest,
    /// The run's request budget.
    pub budget: Arc<RequestBudget>,
    /// The test's stop signal.
    pub stop: StopSignal,
    /// Where tracked submits are recorded.
    pub track: TrackSink,
    /// The response body cap, in bytes.
    pub body_cap: usize,
}

/// Whether a VU goes on after an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Run the next iteration.
    Continue,
    /// The test stopped: end the VU.
    Stop,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepEnd {
    /// Go on with the next step.
    Passed,
    /// End the iteration as failed.
    Failed,
    /// End the VU.
    Stopped,
}

/// Why a virtual user has no HTTP client for a target. Each message is the one the step's
/// failure shows.
#[derive(Debug, thiserror::Error)]
pub(super) enum ClientError {
    /// The step names a target the test does not have.
    #[error("no target #{0}")]
    NoTarget(usize),
    /// reqwest could not build the client; the target's name and why.
    #[error("cannot build an HTTP client for `{target}`: {error}")]
    Build {
        /// The target's name.
        target: String,
        /// Why the client could not be built.
        error: reqwest::Error,
    },
}

/// One virtual user.
#[derive(Debug)]
pub struct VirtualUser {
    pub(super) rt: Arc<Runtime>,
    pub(super) scenario: usize,
    pub(super) scope: VuScope,
    pub(super) clients: Vec<Option<reqwest::Client>>,
    /// The lean HTTP/1.1 client (one keep-alive connection) per target, for steps that take it.
    pub(super) lean: Vec<Option<Http1Client>>,
    /// A request encoded for the lean client, reused across requests.
    pub(super) wire: Vec<u8>,
    pub(super) rng: ChaCha8Rng,
    /// The response body buffer, reused across requests.
    pub(super) body: Vec<u8>,
    pub(super) tx: mpsc::Sender<Event>,
    /// The ledger's process name, e.g. `L1/vu-3`.
    pub(super) process: String,
    /// Open model: the scheduled start of the iteration, used (once) by its first request.
    pub(super) intended: Option<Instant>,
    /// The read requests of the keys tracked so far in this iteration: a later step that sends
    /// the same request reads the same job, and its answer feeds the ledger.
    pub(super) tracked: Vec<super::track::TrackedRead>,
    /// Events waiting to be sent as one batch (see [`VirtualUser::emit`]).
    pending: Vec<Event>,
    /// When the first of them was batched.
    pending_since: Instant,
    /// The wait for the test's stop, made once (on a child token of the stop signal's, so that
    /// VUs do not share one waiter list) and raced against every request.
    stop_wait: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl VirtualUser {
    /// VU number `vu` (1-based) running the mix's scenario `scenario`.
    pub fn new(rt: Arc<Runtime>, scenario: usize, vu: u32, tx: mpsc::Sender<Event>) -> Self {
        let seed = rt.prepared.seed
            ^ ((rt.prepared.index as u64) << 32)
            ^ u64::from(vu).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        VirtualUser {
            scope: VuScope::new(rt.prepared.shared.clone(), vu),
            clients: vec![None; rt.prepared.targets.len()],
            lean: rt.prepared.targets.iter().map(|_| None).collect(),
            wire: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            body: Vec::new(),
            process: format!("{}/vu-{vu}", rt.prepared.id),
            tracked: Vec::new(),
            rt,
            scenario,
            tx,
            intended: None,
            pending: Vec::new(),
            pending_since: Instant::now(),
            stop_wait: None,
        }
    }

    /// The intended start and the wait of a request sent at `sent_at`: in the open model, the
    /// first request of an iteration was meant to start at the iteration's scheduled time, and
    /// its latency counts from there; every other request starts when it is sent.
    pub(super) fn timing(&mut self, sent_at: Instant) -> (Instant, Option<Duration>) {
        match self.intended.take() {
            Some(intended) => (intended, Some(sent_at.saturating_duration_since(intended))),
            None => (sent_at, None),
        }
    }

    /// Whether the test told its VUs to stop.
    pub fn stopped(&self) -> bool {
        self.rt.stop.is_stopped()
    }

    /// Run iteration `iteration` (0-based, per VU) of the VU's scenario.
    pub async fn iterate(&mut self, iteration: u64) -> Flow {
        self.scope.begin(iteration);
        self.tracked.clear();
        let rt = self.rt.clone();
        let Some(scenario) = rt.prepared.scenarios.get(self.scenario) else {
            return Flow::Stop;
        };
        for step in &scenario.steps {
            let end = match &step.action {
                StepAction::Http(spec) => self.run_http(&scenario.name, step, spec).await,
                StepAction::Think { min, max } => self.think(*min, *max).await,
                StepAction::Stream(spec) => self.run_stream(step, spec).await,
                StepAction::Broken { method, message } => {
                    self.unsent(step, method, message.clone()).await
                }
            };
            // Only the iteration's first step starts on its schedule.
            self.intended = None;
            match end {
                StepEnd::Passed => {}
                StepEnd::Failed => {
                    self.emit(Event::Iteration { failed: true }).await;
                    return Flow::Continue;
                }
                StepEnd::Stopped => return Flow::Stop,
            }
        }
        self.emit(Event::Iteration { failed: false }).await;
        Flow::Continue
    }

    /// Think time: a seeded random pause in `[min, max]`, cut short by a stop.
    async fn think(&mut self, min: Duration, max: Duration) -> StepEnd {
        let pause = if max > min {
            self.rng.gen_range(min..=max)
        } else {
            min
        };
        tokio::select! {
            biased;
            _ = self.rt.stop.token().cancelled() => StepEnd::Stopped,
            _ = tokio::time::sleep(pause) => StepEnd::Passed,
        }
    }

    /// A step that failed before sending a request. It still takes a unit of the budget, so a
    /// scenario that can never send cannot spin unbounded.
    pub(super) async fn unsent(
        &mut self,
        step: &PreparedStep,
        method: &'static str,
        message: String,
    ) -> StepEnd {
        if let Err(reason) = self.rt.budget.take() {
            self.rt.stop.stop(reason);
            return StepEnd::Stopped;
        }
        self.emit(Event::Request(RequestSample {
            step: step.slot,
            latency: None,
            status: None,
            failure: Some(Box::new(Failure { method, message })),
        }))
        .await;
        // Nothing here awaited the network: give other tasks a turn.
        tokio::task::yield_now().await;
        StepEnd::Failed
    }

    /// The VU's client for target `index`, built on first use.
    pub(super) fn client(&mut self, index: usize) -> Result<reqwest::Client, ClientError> {
        if let Some(Some(c)) = self.clients.get(index) {
            return Ok(c.clone());
        }
        let target = self
            .rt
            .prepared
            .targets
            .get(index)
            .ok_or(ClientError::NoTarget(index))?;
        // A lean target's reqwest client only follows redirects the lean client was answered.
        let client = if target.lean {
            http::redirect_client(target)
        } else {
            http::client(target)
        };
        let client = client.map_err(|error| ClientError::Build {
            target: target.name.clone(),
            error,
        })?;
        if let Some(slot) = self.clients.get_mut(index) {
            *slot = Some(client.clone());
        }
        Ok(client)
    }

    /// The VU's lean client for target `index`, made on first use (None for an unknown target
    /// or one without a host).
    pub(super) fn lean_client(&mut self, index: usize) -> Option<&mut Http1Client> {
        let slot = self.lean.get_mut(index)?;
        if slot.is_none() {
            let target = self.rt.prepared.targets.get(index)?;
            *slot = Http1Client::new(
                &target.base_url,
                target.connect_timeout,
                target.request_timeout,
            );
        }
        slot.as_mut()
    }

    /// The VU's wait for the test's stop; give it back with [`VirtualUser::return_stop_wait`].
    pub(super) fn take_stop_wait(&mut self) -> Pin<Box<WaitForCancellationFutureOwned>> {
        self.stop_wait
            .take()
            .unwrap_or_else(|| Box::pin(self.rt.stop.token().child_token().cancelled_owned()))
    }

    /// Keep the wait for the next request.
    pub(super) fn return_stop_wait(&mut self, wait: Pin<Box<WaitForCancellationFutureOwned>>) {
        self.stop_wait = Some(wait);
    }

    /// Send an event to the aggregator (which outlives every VU). Timed samples and iteration
    /// ends are batched: they are sent [`BATCH`] at a time, or when the oldest has waited
    /// [`BATCH_WAIT`], or at the next [`VirtualUser::flush`]; other events go at once, after the
    /// batch.
    pub(super) async fn emit(&mut self, event: Event) {
        if matches!(event, Event::Timed(_) | Event::Iteration { .. }) {
            let now = Instant::now();
            if self.pending.is_empty() {
                self.pending_since = now;
            }
            self.pending.push(event);
            if self.pending.len() >= BATCH || now - self.pending_since >= BATCH_WAIT {
                self.flush().await;
            }
            return;
        }
        self.flush().await;
        self.send(event).await;
    }

    /// Send the batched events now.
    pub async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        // Not replaced by a full-sized one: with thousands of VUs that each send a few requests
        // per second, batches stay short, and their memory with them.
        let batch = std::mem::take(&mut self.pending);
        self.send(Event::Batch(batch)).await;
    }

    async fn send(&self, event: Event) {
        if self.tx.send(event).await.is_err() {
            tracing::warn!("load: the aggregator is gone; a sample was lost");
        }
    }
}

impl Drop for VirtualUser {
    /// A VU dropped with batched events (its task ended without a flush) hands them over if
    /// the channel has room; the executors flush every VU before they end, so this is a
    /// fallback.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            if self.tx.try_send(Event::Batch(batch)).is_err() {
                tracing::warn!("load: a virtual user ended with unsent samples; they were lost");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientError;

    #[test]
    fn a_missing_target_reads_as_the_failure_steps_show() {
        assert_eq!(ClientError::NoTarget(3).to_string(), "no target #3");
    }
}
