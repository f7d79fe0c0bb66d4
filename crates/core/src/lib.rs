//! shakedown's engine: what happens in a run, and the evidence it leaves.
//!
//! The layers, from the bottom (each may use the ones above it in this list, never one below):
//!
//! - [`status`]: the statuses of a check and the verdict of a run;
//! - [`stop`]: why a run stopped early (a safety rule or a failed write of evidence);
//! - [`metrics`]: mergeable histograms, per-second series, and thresholds;
//! - [`load`]: virtual users, executors, steps, streams;
//! - [`ledger`]: the history of tracked work, settle, and classification;
//! - [`faults`]: drivers, proof by identity, the journal that reverts every fault;
//! - [`probes`]: the verification checks that read stores and endpoints after settle;
//! - [`report`]: the one report model and its exporters;
//! - [`engine`]: the phases of a run, the only place that knows their order.
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
