//! Fault tests end to end: the demo's C1-C3 catching their defects, proof (an exec restart that
//! changes nothing is INCONCLUSIVE), drivers that fail or hang (BLOCKED) and targets that never
//! come back (FAIL), always-undo under SIGINT and SIGKILL (with `reconcile`), and the Railway
//! driver's contract test against a local fake GraphQL server.

mod demo_faults;
mod exec_proof;
mod pause_revert;
mod railway;
mod safety;

pub use crate::run::check;
use std::path::Path;

/// The events of `faults.jsonl` for one fault key, in order.
pub fn journal_events(dir: &Path, fault: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("faults.jsonl")).expect("faults.jsonl exists");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["fault"] == fault)
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The state letter of a process (`R`, `S`, `T`, ...), None if it is gone.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Wait until the run in `run_dir` has journaled its pause as applied, and check that the
/// paused process `pid` is frozen (state `T`).
pub fn wait_until_paused(run_dir: &Path, pid: u32) {
    crate::support::wait_for(
        "the pause to be applied",
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(50),
        || {
            let events = std::fs::read_to_string(run_dir.join("faults.jsonl")).ok()?;
            events.contains("\"applied\"").then_some(())
        },
    );
    assert_eq!(proc_state(pid), Some('T'), "the paused process is frozen");
}
