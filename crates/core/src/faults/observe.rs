//! What a fault test watches while it runs: the recovery probe (every `recovery.every`) and the
//! test's gauges (for `when` conditions and the backlog), each in its own task, recorded with
//! their time since the start of the test. Both stop on their token, and both are bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::probe;
use super::recovery::ProbeSample;
use super::targets::Controlled;
use shakedown_plan::model::{Plan, RecoveryProbe, Sampler};

/// The most samples kept per series: at the smallest period (50 ms) this is over 15 minutes.
const MAX_SAMPLES: usize = 20_000;
/// How long one recovery probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything observed so far, shared with the tasks that record it.
#[derive(Debug, Default)]
pub struct Observations {
    /// Recovery probes.
    pub probes: Vec<ProbeSample>,
    /// Gauge samples by name: (ms since the start of the test, value).
    pub gauges: BTreeMap<String, Vec<(f64, f64)>>,
}

/// A handle on the observations.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<Observations>>);

impl Shared {
    /// Run `f` on the observations.
    pub fn with<T>(&self, f: impl FnOnce(&mut Observations) -> T) -> T {
        match self.0.lock() {
            Ok(mut o) => f(&mut o),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The latest value of a gauge.
    pub fn latest(&self, gauge: &str) -> Option<f64> {
        self.with(|o| o.gauges.get(gauge).and_then(|g| g.last()).map(|(_, v)| *v))
    }
}

/// Whether the recovery probe's target is healthy now.
pub async fn healthy(plan: &Plan, controlled: &Controlled, probe: &RecoveryProbe) -> bool {
    match probe {
        RecoveryProbe::Request { target, probe, .. } => {
            probe::healthy(plan, target, probe, PROBE_TIMEOUT).await
        }
        RecoveryProbe::Target(name) => {
            let target = plan.targets.get(name);
            let health = target
                .filter(|t| !t.base_url.is_empty())
                .and_then(|t| t.health.as_ref());
            let process_up = match controlled.get(name) {
                Some(c) => c.driver.up_now().await,
                None => None,
            };
            match (health, process_up) {
                (Some(h), Some(up)) => up && probe::healthy(plan, name, h, PROBE_TIMEOUT).await,
                (Some(h), None) => probe::healthy(plan, name, h, PROBE_TIMEOUT).await,
                (None, Some(up)) => up,
                (None, None) => false,
            }
        }
    }
}

/// Probe recovery every `every` until `stop`.
pub fn spawn_recovery_probe(
    plan: Arc<Plan>,
    controlled: Controlled,
    recovery: RecoveryProbe,
    every: Duration,
    started: Instant,
    shared: Shared,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let at_ms = started.elapsed().as_secs_f64() * 1000.0;
            let ok = tokio::select! {
                ok = healthy(&plan, &controlled, &recovery) => ok,
                _ = stop.cancelled() => return,
            };
            shared.with(|o| {
                if o.probes.len() < MAX_SAMPLES {
                    o.probes.push(super::recovery::ProbeSample { at_ms, ok });
                }
            });
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    })
}

/// Poll each gauge at its own period until `stop`.
pub fn spawn_gauges(
    plan: Arc<Plan>,
    samplers: &[Sampler],
    started: Instant,
    shared: Shared,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    samplers
        .iter()
        .cloned()
        .map(|sampler| {
            let (plan, shared, stop) = (plan.clone(), shared.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    let reply = tokio::select! {
                        r = probe::send(&plan, &sampler.target, &sampler.probe, PROBE_TIMEOUT) => r,
                        _ = stop.cancelled() => return,
                    };
                    let value = reply.ok().and_then(|r| r.json()).and_then(|json| {
                        sampler.value.query(&json).first().and_then(|v| v.as_f64())
                    });
                    if let Some(value) = value {
                        let at_ms = started.elapsed().as_secs_f64() * 1000.0;
                        shared.with(|o| {
                            let series = o.gauges.entry(sampler.name.clone()).or_default();
                            if series.len() < MAX_SAMPLES {
                                series.push((at_ms, value));
                            }
                        });
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(sampler.every) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            })
        })
        .collect()
}
