//! The fault part of `report.md`: a small fault-proof table (action, method, identity before
//! and after, injection, first failure, first healthy probe, recovery, proven) and one line of
//! recovery, availability, outage and drain figures.

use std::fmt::Write as _;

use crate::report::fault::FaultSection;
use crate::report::table::{Align, Table};

fn seconds(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_string(), |ms| format!("{:.2}s", ms / 1000.0))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// How many seconds availability covers, from what, how many of them had clients waiting and
/// nothing started (counted as 0), and how many had no traffic at all.
pub fn availability_note(f: &FaultSection) -> String {
    let stalled = f
        .availability
        .iter()
        .filter(|w| w.requests == 0 && w.in_flight > 0)
        .count();
    let mut note = format!(
        "over {} seconds of the {}",
        f.availability.len(),
        f.availability_source
    );
    if stalled > 0 {
        note.push_str(&format!(
            ", {stalled} of them with requests in flight and none started (counted as 0)"
        ));
    }
    if f.idle_seconds > 0 {
        note.push_str(&format!(
            "; {} seconds with no traffic at all are not counted",
            f.idle_seconds
        ));
    }
    note
}

/// Render the fault section of one check.
pub fn fault_details(out: &mut String, f: &FaultSection) {
    let mut table = Table::new(&[
        ("#", Align::Right),
        ("fault", Align::Left),
        ("method", Align::Left),
        ("identity before", Align::Left),
        ("identity after", Align::Left),
        ("injected", Align::Right),
        ("first failure", Align::Right),
        ("first healthy", Align::Right),
        ("recovered", Align::Right),
        ("proof", Align::Left),
    ]);
    for r in &f.faults {
        let proof = if r.proven { "✅ " } else { "❔ " };
        table.row([
            r.index.to_string(),
            cell(&r.action),
            cell(&r.method),
            cell(r.identity_before.as_deref().unwrap_or("-")),
            cell(r.identity_after.as_deref().unwrap_or("-")),
            seconds(r.injected_ms),
            seconds(r.first_failure_ms),
            seconds(r.first_healthy_ms),
            seconds(r.recovered_ms),
            format!("{proof}{}", cell(&r.proof)),
        ]);
    }
    let into_run = f.run_offset_ms.map_or(String::new(), |ms| {
        format!(", {:.2}s into the run", ms / 1000.0)
    });
    let _ = writeln!(
        out,
        "Faults (every time in this section is since the test started at {}{into_run}):\n",
        f.started_at
    );
    out.push_str(&table.markdown());
    out.push('\n');
    let rec = &f.recovery;
    let worst = f
        .availability
        .iter()
        .map(|w| w.availability)
        .reduce(f64::min)
        .map_or_else(|| "-".to_string(), |a| format!("{a:.3}"));
    let _ = writeln!(
        out,
        "Recovery ({}, {} healthy in a row, deadline {}): {}; {} of {} probes failed; worst \
         1-second availability {worst} ({}); outage {}; backlog drain {}; \
         tracked work done {} after recovery.\n",
        cell(&rec.probe),
        rec.healthy,
        seconds(Some(rec.within_ms)),
        rec.recovery_ms.map_or_else(
            || "not recovered".to_string(),
            |ms| format!("recovered in {:.2}s", ms / 1000.0)
        ),
        rec.failed_probes,
        rec.probes,
        availability_note(f),
        seconds(Some(f.outage_ms)),
        seconds(f.drain_ms),
        seconds(f.ledger_drain_ms),
    );
}
