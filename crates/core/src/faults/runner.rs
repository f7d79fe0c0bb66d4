//! One fault test: the background load, the recovery probe and the gauges run while the timeline
//! fires its faults in order; then the runner waits for recovery (K healthy probes in a row,
//! within the deadline), reverts whatever is still applied (whatever happened, a panic
//! included), reads the identities after, and computes the fault section of the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::journal::{Entry, Event, Journal};
use super::observe::{Shared, spawn_gauges, spawn_recovery_probe};
use super::proof::{Observed, prove, read_identity};
use super::recovery::{
    drain_ms, first_failure_after, first_healthy_after, outage_ms, probe_availability,
    recovered_after,
};
use super::targets::Controlled;
use super::timeline::{Fired, Timeline, now_rfc3339};
use super::undo::Undo;
use crate::load::{LoadEnv, LoadOutcome};
use crate::report::fault::{FaultSection, RecoverySummary};
use shakedown_plan::model::{FaultAction, FaultTest};

/// What every fault test of a run shares.
#[derive(Clone)]
pub struct FaultEnv {
    /// The load environment (plan, ledger, budget, run start).
    pub load: LoadEnv,
    /// The drivers.
    pub controlled: Controlled,
    /// The journal.
    pub journal: Arc<Journal>,
    /// The executable to run `guard` with (None: no guard process, as in library tests).
    pub guard_exe: Option<PathBuf>,
    /// The run's fault proxies, for `toxic` entries.
    pub proxies: super::proxy_faults::Proxies,
}

/// The result of one fault test.
#[derive(Debug)]
pub struct FaultOutcome {
    /// The background load's outcome.
    pub load: Option<LoadOutcome>,
    /// What the report shows about the faults.
    pub section: FaultSection,
    /// A driver failed or hung: the reason and the fix.
    pub blocked: Option<(String, String)>,
    /// The system did not recover by the deadline.
    pub deadline_missed: Option<String>,
    /// The seconds of the run under a fault, and after recovery, for window-scoped thresholds.
    pub seconds: crate::metrics::window_thresholds::FaultSeconds,
}

/// Run `test` to completion or cancellation. Applied faults are always reverted before this
/// returns.
pub async fn run_fault_test(
    env: &FaultEnv,
    test: &FaultTest,
    cancel: CancellationToken,
) -> FaultOutcome {
    let started = Instant::now();
    let run_offset_ms = env.load.ledger.clock_ms();
    let offset_ms = started
        .saturating_duration_since(env.load.run_start)
        .as_secs_f64()
        * 1000.0;
    let started_at = now_rfc3339();
    let plan = env.load.plan.clone();
    let shared = Shared::default();
    let observing = CancellationToken::new();
    let probe_task = spawn_recovery_probe(
        plan.clone(),
        env.controlled.clone(),
        test.recovery.probe.clone(),
        test.recovery.every,
        started,
        shared.clone(),
        observing.clone(),
    );
    let gauge_tasks = spawn_gauges(
        plan.clone(),
        &test.watch,
        started,
        shared.clone(),
        observing.clone(),
    );
    let load_done = CancellationToken::new();
    let load = {
        let (load_env, load_test, token, done) = (
            env.load.clone(),
            test.load.clone(),
            cancel.child_token(),
            load_done.clone(),
        );
        tokio::spawn(async move {
            let outcome = crate::load::run_load_test(&load_env, &load_test, token).await;
            done.cancel();
            outcome
        })
    };
    let undo = Undo::new(env.journal.clone(), env.controlled.clone(), plan.clone());
    let timeline = Timeline {
        env,
        test,
        started,
        shared: shared.clone(),
        undo: undo.clone(),
        cancel: cancel.clone(),
        load_done: load_done.clone(),
    };
    // The timeline runs in this task; a panic in it would unwind past the revert below, so it is
    // caught and the revert still happens.
    let fired =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(timeline.run())).await;
    let (mut fired, blocked) = match fired {
        Ok(result) => result,
        Err(_) => {
            undo.revert_all().await;
            (
                Vec::new(),
                Some((
                    "the fault timeline panicked; every applied fault was reverted".to_string(),
                    "this is a bug in shakedown: please report it with the run directory"
                        .to_string(),
                )),
            )
        }
    };
    // A pause lasts its TTL: hold until the last one ends (its timer resumes it), unless
    // cancelled.
    let hold = test
        .timeline
        .iter()
        .zip(&fired)
        .filter(|(_, f)| f.applied.is_some())
        .filter_map(|(entry, f)| match entry.action {
            FaultAction::Pause { ttl, .. } | FaultAction::Toxic { ttl, .. } => {
                Some(started + Duration::from_secs_f64(f.applied_ms / 1000.0) + ttl)
            }
            _ => None,
        })
        .max();
    if let Some(hold) = hold {
        tokio::select! {
            _ = tokio::time::sleep_until(hold) => {}
            _ = cancel.cancelled() => {}
        }
    }
    // Wait for recovery after the last fault, unless cancelled or blocked.
    let k = test.recovery.healthy;
    let last_applied = fired.iter().map(|f| f.applied_ms).reduce(f64::max);
    let mut deadline_missed = None;
    if let (Some(last), None) = (last_applied, &blocked) {
        let deadline = started + Duration::from_secs_f64(last / 1000.0) + test.recovery.within;
        loop {
            if shared
                .with(|o| recovered_after(&o.probes, last, k))
                .is_some()
            {
                break;
            }
            if Instant::now() >= deadline {
                deadline_missed = Some(format!(
                    "{} did not recover within the recovery deadline of {} ({} healthy probes in a row) after the last fault",
                    test.recovery.probe.describe(),
                    humantime::format_duration(test.recovery.within),
                    k
                ));
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(test.recovery.every) => {}
                _ = cancel.cancelled() => break,
            }
        }
    }
    undo.revert_all().await;
    close_unreverted(env, test, &shared, &fired, &undo, k);
    // A toxic is proven by its proxy's counters, read once it is removed.
    for f in &mut fired {
        if let (Some(_), FaultAction::Toxic { proxy, .. }) =
            (&f.applied, &test.timeline[f.record.index as usize].action)
        {
            let key = format!("{}#{}", test.id, f.record.index);
            if let Some(proof) = super::proxy_faults::proof(&env.proxies, &key, proxy) {
                f.applied = Some(proof);
            }
        }
    }
    // Identities after recovery.
    for f in &mut fired {
        if let Some(target) = &f.record.target
            && f.record.identity_before.is_some()
        {
            f.record.identity_after = read_identity(&plan, target, &env.controlled)
                .await
                .ok()
                .flatten();
        }
        f.record.reverted = undo.reverted(&format!("{}#{}", test.id, f.record.index));
    }
    let load = match load.await {
        Ok(outcome) => Some(outcome),
        Err(e) => {
            tracing::error!(error = %e, "the background load of a fault test failed");
            None
        }
    };
    observing.cancel();
    let _ = probe_task.await;
    for task in gauge_tasks {
        let _ = task.await;
    }
    let mut section = summarise(test, &shared, fired, &load, offset_ms, started_at, k);
    section.run_offset_ms = Some(run_offset_ms);
    let end_ms = started.elapsed().as_secs_f64() * 1000.0;
    let seconds = super::fault_seconds::fault_seconds(test, &section, offset_ms, end_ms);
    FaultOutcome {
        load,
        section,
        blocked,
        deadline_missed,
        seconds,
    }
}

/// A fault that needs no undo (a completed restart, an endpoint fault that expires by itself)
/// is closed in the journal once the system is seen recovered after it.
fn close_unreverted(
    env: &FaultEnv,
    test: &FaultTest,
    shared: &Shared,
    fired: &[Fired],
    undo: &Undo,
    k: u32,
) {
    for f in fired.iter().filter(|f| f.applied.is_some()) {
        let key = format!("{}#{}", test.id, f.record.index);
        if undo.is_tracked(&key) {
            continue;
        }
        let recovered = shared.with(|o| recovered_after(&o.probes, f.applied_ms, k));
        let write = |event, detail: String| {
            let _ = env
                .journal
                .append(Entry::new(&key, event).detail(detail).by("shakedown"));
        };
        write(
            Event::Reverted,
            "nothing to undo: the fault ends by itself".to_string(),
        );
        if let Some(at) = recovered {
            write(
                Event::Confirmed,
                format!(
                    "{} healthy {k} times in a row from {:.0}ms",
                    test.recovery.probe.describe(),
                    at
                ),
            );
        }
    }
}

fn summarise(
    test: &FaultTest,
    shared: &Shared,
    fired: Vec<Fired>,
    load: &Option<LoadOutcome>,
    offset_ms: f64,
    started_at: String,
    k: u32,
) -> FaultSection {
    let (probes, backlog) = shared.with(|o| {
        let backlog = test
            .recovery
            .backlog
            .as_ref()
            .and_then(|g| o.gauges.get(g).cloned());
        (o.probes.clone(), backlog)
    });
    let injected: Vec<f64> = fired
        .iter()
        .filter(|f| f.applied.is_some())
        .filter_map(|f| f.record.injected_ms)
        .collect();
    let first_injection = injected.iter().copied().reduce(f64::min);
    let last_applied = fired
        .iter()
        .filter(|f| f.applied.is_some())
        .map(|f| f.applied_ms)
        .reduce(f64::max);
    let recovered_ms = last_applied.and_then(|last| recovered_after(&probes, last, k));
    let first_failure = first_injection.and_then(|at| first_failure_after(&probes, at));
    let first_healthy = first_failure.and_then(|at| first_healthy_after(&probes, at));
    let mut faults = Vec::new();
    for f in fired {
        let mut record = f.record;
        if let Some(at) = record.injected_ms.filter(|_| f.applied.is_some()) {
            record.first_failure_ms = first_failure_after(&probes, at);
            record.first_healthy_ms = record
                .first_failure_ms
                .and_then(|ff| first_healthy_after(&probes, ff));
            record.recovered_ms = recovered_after(&probes, f.applied_ms, k);
            let observed = Observed {
                applied: f.applied.as_ref(),
                before: record.identity_before.as_deref(),
                after: record.identity_after.as_deref(),
                recovered: record.recovered_ms.is_some(),
                failure_seen: record.first_failure_ms.is_some(),
            };
            let test_action = &test.timeline[record.index as usize].action;
            let (proven, proof) = prove(test_action, &observed);
            record.proven = proven;
            record.proof = proof;
        }
        faults.push(record);
    }
    let end_ms = recovered_ms.or_else(|| probes.last().map(|p| p.at_ms));
    let (from_s, to_s) = match (first_injection, end_ms) {
        (Some(from), Some(to)) => (
            ((offset_ms + from) / 1000.0).floor() as u64,
            ((offset_ms + to.max(from)) / 1000.0).floor() as u64,
        ),
        _ => (1, 0),
    };
    let windows = load
        .as_ref()
        .map(|l| l.summary.timeline.as_slice())
        .unwrap_or_default();
    // The load's own windows when it sent requests during the fault; else the recovery probe's.
    let from_load = match (test.recovery.objective, load.as_ref()) {
        (Some(objective), Some(l)) => super::recovery::availability_within(
            windows,
            &l.measurements.availability(objective),
            from_s,
            to_s,
        ),
        _ => super::recovery::availability(windows, from_s, to_s),
    };
    let (availability, source, idle) = if from_load.is_empty() {
        (
            probe_availability(&probes, offset_ms, from_s, to_s),
            "probe",
            0,
        )
    } else {
        (
            from_load,
            "load",
            super::recovery::idle_seconds(windows, from_s, to_s),
        )
    };
    let outage = first_injection.map_or(0.0, |at| {
        let from = probes
            .iter()
            .position(|p| p.at_ms >= at)
            .unwrap_or(probes.len());
        outage_ms(&probes[from..])
    });
    let drain = match (backlog, first_injection, recovered_ms) {
        (Some(series), Some(at), Some(recovered)) => {
            let baseline = series
                .iter()
                .filter(|(t, _)| *t < at)
                .map(|(_, v)| *v)
                .next_back()
                .unwrap_or(0.0);
            drain_ms(&series, baseline, recovered)
        }
        _ => None,
    };
    FaultSection {
        started_at,
        faults,
        recovery: RecoverySummary {
            probe: test.recovery.probe.describe(),
            healthy: k,
            within_ms: test.recovery.within.as_secs_f64() * 1000.0,
            first_injection_ms: first_injection,
            first_failure_ms: first_failure,
            first_healthy_ms: first_healthy,
            recovered_ms,
            recovery_ms: match (first_injection, recovered_ms) {
                (Some(a), Some(b)) => Some((b - a).max(0.0)),
                _ => None,
            },
            probes: probes.len() as u64,
            failed_probes: probes.iter().filter(|p| !p.ok).count() as u64,
        },
        availability,
        availability_source: source.to_string(),
        idle_seconds: idle,
        outage_ms: outage,
        drain_ms: drain,
        ledger_drain_ms: None,
        run_offset_ms: None,
    }
}
