//! shakedown's command line: argument parsing, the commands, the console, and the mapping of
//! results to exit codes.
//!
//! The work is done by the crates below it: `shakedown-plan` (the plan, compiled and validated),
//! `shakedown-core` (the run: load, faults, ledger, verification, evidence) and `shakedown-proxy`
//! (the fault proxy). This crate holds only what a user types and sees.

pub mod cli;
pub mod cli_attest;
pub mod cli_check;
pub mod cli_evidence;
pub mod cli_faults;
pub mod cli_hit;
pub mod cli_hit_plan;
pub mod cli_hit_secrets;
pub mod console;
#[cfg(feature = "demo")]
pub mod demo;
pub mod workers;
