//! The fault section of a fault check in the report: each fault with its proof (identities
//! before and after, the method, the timestamps of injection, first failure, first healthy probe
//! and recovery), the recovery summary, availability per 1-second window, and outage and drain
//! times. Times are RFC 3339 plus milliseconds since the start of the fault test.

use serde::{Deserialize, Serialize};

/// Everything a fault check observed about its faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSection {
    /// When the fault test started, RFC 3339.
    pub started_at: String,
    /// Each timeline entry that fired, in order.
    pub faults: Vec<FaultRecord>,
    /// The recovery as a whole.
    pub recovery: RecoverySummary,
    /// Availability per 1-second window from the first injection to recovery (or the end).
    pub availability: Vec<AvailabilityWindow>,
    /// Where availability comes from: `load` (the background load's windows) or `probe` (the
    /// recovery probe, when the load has none).
    pub availability_source: String,
    /// Seconds from the first injection to recovery in which the background load neither sent
    /// a request nor had one in flight: no traffic at all, so no availability to say.
    #[serde(default)]
    pub idle_seconds: u64,
    /// Total time the recovery probe was failing, ms.
    pub outage_ms: f64,
    /// Time for the backlog gauge to return to its pre-fault level after recovery, ms.
    pub drain_ms: Option<f64>,
    /// From recovery to the first read that saw the last of the test's tracked work done, ms:
    /// the backlog's drain as the ledger observed it. None when the test tracks nothing, did
    /// not recover, or left work stuck or undecided.
    #[serde(default)]
    pub ledger_drain_ms: Option<f64>,
    /// When the test started, in ms since the start of the run: the clock of `history.jsonl`
    /// and of the load's per-second timeline. Every other time in this section is from the
    /// test's start; a witness operation's time is shown on that clock by subtracting this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_offset_ms: Option<f64>,
}

/// One fault and its proof.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Position in the timeline, from 0.
    pub index: u32,
    /// The action in words, e.g. `kill worker-0 with SIGKILL`.
    pub action: String,
    /// The target, if the action has one.
    pub target: Option<String>,
    /// How it was done: the driver and what it observed.
    pub method: String,
    /// The target's identity just before the fault.
    pub identity_before: Option<String>,
    /// The identity after recovery.
    pub identity_after: Option<String>,
    /// When it was injected, RFC 3339.
    pub injected_at: Option<String>,
    /// When it was injected, ms since the start of the test.
    pub injected_ms: Option<f64>,
    /// The first failing recovery probe after injection, ms since the start of the test.
    pub first_failure_ms: Option<f64>,
    /// The first healthy probe after that, ms since the start of the test.
    pub first_healthy_ms: Option<f64>,
    /// The first of K consecutive healthy probes, ms since the start of the test.
    pub recovered_ms: Option<f64>,
    /// Whether the fault is proven to have happened.
    pub proven: bool,
    /// Why it is (or is not) proven.
    pub proof: String,
    /// How it was undone, if it needed undoing.
    pub reverted: Option<String>,
}

/// The recovery of the system from the whole timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoverySummary {
    /// What was probed.
    pub probe: String,
    /// Consecutive healthy probes required.
    pub healthy: u32,
    /// The deadline from the last injection, ms.
    pub within_ms: f64,
    /// The first injection, ms since the start of the test.
    pub first_injection_ms: Option<f64>,
    /// The first failing probe after it.
    pub first_failure_ms: Option<f64>,
    /// The first healthy probe after that.
    pub first_healthy_ms: Option<f64>,
    /// The first of K consecutive healthy probes after the last injection.
    pub recovered_ms: Option<f64>,
    /// Time to recover: first injection to recovery, ms.
    pub recovery_ms: Option<f64>,
    /// Probes sent.
    pub probes: u64,
    /// Probes that failed.
    pub failed_probes: u64,
}

/// One second of availability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityWindow {
    /// Seconds since the start of the run.
    pub second: u64,
    /// Attempts in that second.
    pub requests: u64,
    /// Of which succeeded.
    pub successes: u64,
    /// successes ÷ requests; 0 for a second in which no request started while some were in
    /// flight.
    pub availability: f64,
    /// Requests started earlier and still in flight in that second.
    #[serde(default, skip_serializing_if = "crate::metrics::summary::is_zero")]
    pub in_flight: u64,
}
