//! The validated fault part of a plan: how targets are controlled and identified, fault tests
//! with their timelines and recovery criteria, and the run's stop conditions (DESIGN section 5).
//!
//! Everything here has been checked by `compile_faults.rs`: every target a fault names exists
//! and has a control whose driver supports the action, every `when` names a sampled gauge, and
//! every expectation parses.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::expr::CmpOp;
use crate::load::model::{LoadTest, Sampler};
use crate::targets::model::{ControlVerb, Probe};

/// The fault tests and safety rules of a plan.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Fault tests, in the order they run (after every load test).
    pub tests: Vec<FaultTest>,
    /// Probes that abort the run when they fail during it.
    pub stop_conditions: Vec<StopCondition>,
}

/// A fault test: background load, a timeline of faults, recovery criteria and expectations.
#[derive(Debug, Clone)]
pub struct FaultTest {
    /// Short id, e.g. `C1`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Whether the verdict depends on it.
    pub required: bool,
    /// The background load, as a load test with the fault test's id (its thresholds are the
    /// expectations on load and ledger figures).
    pub load: LoadTest,
    /// The faults, in order.
    pub timeline: Vec<TimelineEntry>,
    /// When the system counts as recovered.
    pub recovery: Recovery,
    /// Expectations on recovery, availability, outage and drain.
    pub expect: Vec<FaultThreshold>,
    /// Gauges polled by the timeline (for `when`) and the backlog probe.
    pub watch: Vec<Sampler>,
    /// Every target the test touches: the load's, the faulted ones, and their controls
    /// (`NAME.control`).
    pub targets: BTreeSet<String>,
}

/// One entry of a timeline.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    /// When it fires. An entry never fires before the previous one.
    pub trigger: Trigger,
    /// What it does.
    pub action: FaultAction,
}

/// When a timeline entry fires.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// At this offset from the start of the test.
    At(Duration),
    /// This long after the previous entry was applied.
    After(Duration),
    /// As soon as a sampled gauge satisfies a comparison.
    When {
        /// The condition as written.
        source: String,
        /// The gauge (a sampler of the test).
        gauge: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side.
        value: f64,
    },
}

/// What a timeline entry does.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Send a signal to a target.
    Kill {
        /// The target.
        target: String,
        /// The signal's name without `SIG`, e.g. `KILL`.
        signal: String,
    },
    /// Stop and start a target.
    Restart {
        /// The target.
        target: String,
    },
    /// Stop a target (it is started again at heal).
    Stop {
        /// The target.
        target: String,
    },
    /// Start a stopped target.
    Start {
        /// The target.
        target: String,
    },
    /// Freeze a target for `ttl`; a guard outside the main loop resumes it even if shakedown dies.
    Pause {
        /// The target.
        target: String,
        /// How long it stays frozen.
        ttl: Duration,
    },
    /// Call an endpoint (an ops chaos switch) that injects a fault which expires by itself.
    Request {
        /// The target the request goes to.
        target: String,
        /// The request.
        probe: Probe,
        /// The request line as written.
        line: String,
    },
    /// Revert every fault applied so far.
    Heal,
    /// Put a toxic on a fault proxy for `ttl`; the proxy also expires it by itself.
    Toxic {
        /// The proxy (`[proxies.NAME]`).
        proxy: String,
        /// The toxic; the runner names it after the fault and sets the proxy's own TTL.
        spec: shakedown_proxy::ToxicSpec,
        /// How long it lasts.
        ttl: Duration,
    },
}

impl FaultAction {
    /// The target the action is against, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            FaultAction::Kill { target, .. }
            | FaultAction::Restart { target }
            | FaultAction::Stop { target }
            | FaultAction::Start { target }
            | FaultAction::Pause { target, .. }
            | FaultAction::Request { target, .. } => Some(target),
            FaultAction::Heal | FaultAction::Toxic { .. } => None,
        }
    }

    /// The driver verb, for actions that go through a target's control.
    pub fn verb(&self) -> Option<ControlVerb> {
        match self {
            FaultAction::Kill { .. } => Some(ControlVerb::Kill),
            FaultAction::Restart { .. } => Some(ControlVerb::Restart),
            FaultAction::Stop { .. } => Some(ControlVerb::Stop),
            FaultAction::Start { .. } => Some(ControlVerb::Start),
            FaultAction::Pause { .. } => Some(ControlVerb::Pause),
            FaultAction::Request { .. } | FaultAction::Heal | FaultAction::Toxic { .. } => None,
        }
    }

    /// The action in words: `kill worker-0 with SIGKILL`.
    pub fn describe(&self) -> String {
        match self {
            FaultAction::Kill { target, signal } => format!("kill {target} with SIG{signal}"),
            FaultAction::Restart { target } => format!("restart {target}"),
            FaultAction::Stop { target } => format!("stop {target}"),
            FaultAction::Start { target } => format!("start {target}"),
            FaultAction::Pause { target, ttl } => {
                format!("pause {target} for {}", humantime::format_duration(*ttl))
            }
            FaultAction::Request { line, .. } => format!("request {line}"),
            FaultAction::Heal => "heal".to_string(),
            FaultAction::Toxic { proxy, spec, ttl } => format!(
                "toxic {} on proxy {proxy} for {}",
                spec.toxic.kind(),
                humantime::format_duration(*ttl)
            ),
        }
    }
}

/// When the system counts as recovered.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// What is probed.
    pub probe: RecoveryProbe,
    /// How many consecutive healthy probes make a recovery.
    pub healthy: u32,
    /// The deadline, from the last fault's injection.
    pub within: Duration,
    /// Time between probes.
    pub every: Duration,
    /// A gauge of the test (a queue depth) whose return to its pre-fault level is the backlog
    /// drain.
    pub backlog: Option<String>,
    /// The latency objective of availability: only successes within it count as available.
    pub objective: Option<Duration>,
}

/// What the recovery probe reads.
#[derive(Debug, Clone)]
pub enum RecoveryProbe {
    /// A target's health probe, or (for a process target without one) its process being up.
    Target(String),
    /// An explicit request.
    Request {
        /// The target.
        target: String,
        /// The request.
        probe: Probe,
        /// As written.
        line: String,
    },
}

impl RecoveryProbe {
    /// The probe in words.
    pub fn describe(&self) -> String {
        match self {
            RecoveryProbe::Target(target) => format!("health of {target}"),
            RecoveryProbe::Request { line, .. } => line.clone(),
        }
    }
}

/// A fault expectation, e.g. `recovery < 30s`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultThreshold {
    /// As written.
    pub source: String,
    /// What is measured.
    pub metric: FaultMetric,
    /// Comparison.
    pub op: CmpOp,
    /// Right-hand side (milliseconds for times, a ratio for availability).
    pub value: f64,
}

/// Fault measures usable in expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMetric {
    /// Time to recover, from the first injection, in ms.
    Recovery,
    /// The lowest per-second availability during the fault, a ratio.
    Availability,
    /// Total time the recovery probe was failing, in ms.
    Outage,
    /// Time for the backlog gauge to return to its pre-fault level after recovery, in ms.
    Drain,
}

impl FaultMetric {
    /// The unit of the measured value as the report writes it.
    pub fn unit(self) -> &'static str {
        match self {
            FaultMetric::Availability => "ratio",
            _ => "ms",
        }
    }
}

/// A probe that aborts the run when it fails `failures` times in a row during it.
#[derive(Debug, Clone)]
pub struct StopCondition {
    /// The target.
    pub target: String,
    /// The request.
    pub probe: Probe,
    /// As written.
    pub line: String,
    /// Time between probes.
    pub every: Duration,
    /// Consecutive failures that stop the run.
    pub failures: u32,
}
