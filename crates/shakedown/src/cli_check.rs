//! `shakedown check RUN_DIR`: classify a run directory's saved `history.jsonl` again, offline,
//! by the `ledger-spec.json` the run saved next to it, and print the same classification as the
//! run's report (human text, or `--json`). `--jepsen FILE` also writes the history in Jepsen's
//! JSON history shape for an independent checker.
//!
//! Exit codes: 0 no violation and nothing undecided, 1 work was lost, duplicated, stuck,
//! resurrected, regressed, ended two ways or slow, 3 inconclusive (undecided keys), 2 a
//! directory that cannot be checked (the message names the file and the fix).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use shakedown_core::ledger::checker::{ALL_CLASSES, class_name};
use shakedown_core::ledger::offline::{OfflineCheck, check_dir};
use shakedown_core::ledger::summary::LedgerSummary;
use shakedown_core::ledger::violations::CheckOutcome;
use shakedown_plan::model::LedgerClass;

/// Examples printed per class in the human output.
const EXAMPLES_SHOWN: usize = 3;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The run directory (it holds `history.jsonl` and `ledger-spec.json`).
    pub dir: PathBuf,
    /// Print the classification as JSON (per test, the report's `checks[].ledger`).
    #[arg(long)]
    pub json: bool,
    /// Also write the history in Jepsen's JSON history shape to FILE.
    #[arg(long, value_name = "FILE")]
    pub jepsen: Option<PathBuf>,
}

/// Run `check`: print the classification and return the exit code.
pub fn check(args: &CheckArgs, json: bool) -> anyhow::Result<u8> {
    let found = check_dir(&args.dir, args.jepsen.as_deref())?;
    for warning in &found.warnings {
        eprintln!("warning: {warning}");
    }
    if json || args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print!("{}", human(&found));
        if let Some(path) = &args.jepsen {
            println!("Jepsen history written to {}", path.display());
        }
    }
    Ok(found.exit_code)
}

/// The human text of an offline check.
pub fn human(found: &OfflineCheck) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} records{}",
        found.history.display(),
        found.records,
        if found.warnings.is_empty() {
            ""
        } else {
            " (see the warnings)"
        }
    );
    if found.tests.is_empty() {
        let _ = writeln!(out, "no tracked key in the history");
    }
    for (test, summary) in &found.tests {
        test_text(&mut out, test, summary);
    }
    let verdict = match found.outcome {
        CheckOutcome::Clean => "clean: no work lost, duplicated, stuck or out of order",
        CheckOutcome::Violations => "VIOLATIONS: tracked work went wrong (see the classes above)",
        CheckOutcome::Inconclusive => "INCONCLUSIVE: some keys could not be decided",
    };
    let _ = writeln!(out, "{verdict} (exit {})", found.exit_code);
    out
}

fn test_text(out: &mut String, test: &str, s: &LedgerSummary) {
    let settled = if s.settled {
        "settle completed"
    } else {
        "settle did NOT complete"
    };
    let _ = writeln!(out, "\n{test}: {} keys tracked; {settled}", s.tracked);
    let counts: Vec<String> = ALL_CLASSES
        .iter()
        .filter(|&&c| s.count(c) > 0 || c == LedgerClass::Ok)
        .map(|&c| format!("{} {}", class_name(c), s.count(c)))
        .collect();
    let _ = writeln!(out, "  {}", counts.join(", "));
    for line in s.figures() {
        let _ = writeln!(out, "  {line}");
    }
    for (class, examples) in &s.examples {
        for e in examples.iter().take(EXAMPLES_SHOWN) {
            let ops: Vec<String> = e.witnesses.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "  {} {}: {} [ops {}]",
                class_name(*class),
                e.key,
                e.why,
                ops.join(", ")
            );
        }
        if examples.len() > EXAMPLES_SHOWN {
            let _ = writeln!(
                out,
                "  {} ... and {} more examples (--json has up to 32)",
                class_name(*class),
                examples.len() - EXAMPLES_SHOWN
            );
        }
    }
}
