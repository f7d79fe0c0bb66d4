//! shakedown: a release gate for a deployed system.
//!
//! One TOML plan drives load, verifies that no work was lost, duplicated or stuck, and writes
//! evidence with a GO / NO-GO verdict. The layers, from the bottom:
//!
//! - [`plan`]: raw TOML structs, compiled into a validated, immutable [`plan::model::Plan`];
//! - [`template`]: minijinja templates used by the plan;
//! - [`load`] and [`metrics`]: virtual users, executors, and mergeable histograms;
//! - [`ledger`]: the history of tracked work, settle, and classification;
//! - [`report`]: the one report model and its exporters;
//! - [`engine`]: the phases of a run, the only place that knows their order, and [`stop`]: why
//!   a run stopped early (a safety rule or a failed write of evidence);
//! - [`cli`]: argument parsing and the mapping of results to exit codes.

pub mod cli;
pub mod cli_attest;
pub mod cli_check;
pub mod cli_evidence;
pub mod cli_faults;
pub mod cli_hit;
pub mod cli_hit_secrets;
pub mod console;
pub mod demo;
pub mod engine;
pub mod faults;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod probes;
pub mod report;
pub mod status;
pub mod stop;
pub mod workers;
