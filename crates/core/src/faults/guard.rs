//! `shakedown guard` (hidden): the TTL of a pause, enforced outside the run's main loop. The run
//! starts it detached, in its own process group, before it pauses a target; it sleeps until the
//! pause's deadline and then, unless the journal says the pause was reverted, replays the
//! journal's revert recipe itself (SIGCONT to the recorded process, or the resume command). A
//! SIGKILL of shakedown therefore never leaves a process frozen beyond its TTL. Like reconcile,
//! it never writes into a sealed run directory: it then records in the run's outside record.

use std::path::Path;
use std::time::Duration;

use super::journal::{Entry, Event, append_to, read_run, record_path, states};
use super::reconcile::replay;

/// How often the guard looks at the journal while it waits.
const POLL: Duration = Duration::from_millis(250);

/// The run directory of the journal at `journal`.
fn run_dir(journal: &Path) -> &Path {
    journal.parent().unwrap_or(Path::new("."))
}

/// Whether the journal (or the run's outside record) says `fault` was reverted.
fn reverted(journal: &Path, fault: &str) -> bool {
    read_run(run_dir(journal))
        .map(|entries| {
            states(&entries)
                .into_iter()
                .any(|(key, state)| key == fault && state.reverted)
        })
        .unwrap_or(false)
}

/// Wait until `deadline_ms` (epoch ms), then revert `fault` unless it was. Returns what it did.
pub fn run_guard(journal: &Path, fault: &str, deadline_ms: u64) -> Result<String, String> {
    loop {
        if reverted(journal, fault) {
            return Ok(format!("{fault} was reverted by the run; nothing to do"));
        }
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(u64::MAX);
        if now >= deadline_ms {
            break;
        }
        std::thread::sleep(POLL.min(Duration::from_millis(deadline_ms - now)));
    }
    let entries = read_run(run_dir(journal))
        .map_err(|e| format!("cannot read {}: {e}", journal.display()))?;
    let recipe = states(&entries)
        .into_iter()
        .find(|(key, _)| key == fault)
        .and_then(|(_, state)| state.intent)
        .and_then(|intent| intent.revert)
        .ok_or_else(|| format!("the journal has no revert recipe for {fault}"))?;
    let detail = replay(&recipe, false)?;
    let detail = format!("TTL expired: {detail}");
    let record = record_path(run_dir(journal));
    let write = |event| {
        append_to(
            &record,
            Entry::new(fault, event).detail(&detail).by("guard"),
        )
        .map_err(|e| format!("cannot write {}: {e}", record.display()))
    };
    write(Event::Reverted)?;
    write(Event::Confirmed)?;
    Ok(detail)
}
