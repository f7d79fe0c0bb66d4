//! The fault subcommands: `reconcile RUN_DIR` (replay what a dead run left applied) and the
//! hidden `guard` (the TTL of a pause, outside the run's process).

use std::path::PathBuf;

use clap::Args;

/// Arguments of `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The run directory whose fault journal (faults.jsonl) to reconcile; once it is sealed,
    /// what reconcile does is recorded in RUN_DIR.reconciled.jsonl next to it instead.
    pub run_dir: PathBuf,
}

/// Arguments of the hidden `guard`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The fault journal.
    #[arg(long)]
    pub journal: PathBuf,
    /// The fault's key in the journal (`C1#2`).
    #[arg(long)]
    pub fault: String,
    /// When to revert it, epoch milliseconds.
    #[arg(long)]
    pub deadline_ms: u64,
}

/// `shakedown reconcile`: 0 when nothing is left applied, 1 when a revert failed.
pub fn reconcile(args: &ReconcileArgs) -> anyhow::Result<u8> {
    let done = shakedown_core::faults::reconcile::reconcile(&args.run_dir)?;
    for line in &done.lines {
        println!("{line}");
    }
    Ok(u8::from(done.failures > 0))
}

/// `shakedown guard`: 0 when the fault is reverted (by the run or by the guard).
pub fn guard(args: &GuardArgs) -> anyhow::Result<u8> {
    shakedown_core::faults::guard::run_guard(&args.journal, &args.fault, args.deadline_ms)
        .map(|_| 0)
        .map_err(anyhow::Error::msg)
}
