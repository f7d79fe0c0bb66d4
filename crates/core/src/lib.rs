//! shakedown's engine: what happens in a run, and the evidence it leaves.
//!
//! The layers, from the bottom (a module may use the layers below its own, never its own layer
//! or one above; `layers_tests.rs` holds the table and enforces it on every source file):
//!
//! 1. [`status`]: the statuses of a check and the verdict of a run; [`stop`]: why a run stopped
//!    early (a safety rule or a failed write of evidence); [`budget`]: the run's request budget,
//!    which the load and the ledger's watch both spend; [`target_context`]: the template context
//!    and error text of requests made outside a scenario;
//! 2. [`check`]: what a check is (its kind, a target's preflight result, a threshold with its
//!    measurement) and the one gating rule that turns what it found into a status;
//! 3. [`metrics`]: mergeable histograms, per-second series, and thresholds;
//! 4. [`ledger`]: the history of tracked work, settle, and classification;
//! 5. [`load`]: virtual users, executors, steps, streams; and [`report`]: the one report model
//!    and its exporters;
//! 6. [`faults`]: drivers, proof by identity, the journal that reverts every fault; and
//!    [`probes`]: the verification checks that read stores and endpoints after settle;
//! 7. [`engine`]: the phases of a run, the only place that knows their order.
//!
//! The plan comes from `shakedown-plan`, the fault proxy from `shakedown-proxy`.

pub mod budget;
pub mod check;
pub mod engine;
pub mod faults;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod probes;
pub mod report;
pub mod status;
pub mod stop;
pub mod target_context;

#[cfg(test)]
mod layers_tests;
