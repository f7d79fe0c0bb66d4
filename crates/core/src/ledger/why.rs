//! The plain-words reasons of ledger examples, e.g. "acknowledged with 201 at 1.2s (op 14);
//! final read at 9.8s saw no job (op 311)". Times are seconds on the ledger's clock.

use crate::ledger::checker::{KeyHistory, Mark, ReadError, Seen, class_name};
use crate::ledger::record::{JobView, OpType};
use crate::ledger::trace::Sighting;
use shakedown_plan::model::LedgerClass;

/// Longest error text quoted in a reason.
const MAX_ERROR_CHARS: usize = 160;

/// Seconds on the ledger's clock, to a tenth.
pub(crate) fn at(time_ns: u64) -> String {
    format!("{:.1}s", time_ns as f64 / 1e9)
}

fn short(error: &str) -> String {
    if error.chars().count() <= MAX_ERROR_CHARS {
        error.to_string()
    } else {
        let cut: String = error.chars().take(MAX_ERROR_CHARS).collect();
        format!("{cut}...")
    }
}

/// How the key's submit ended.
pub(crate) fn submit(key: &KeyHistory) -> String {
    let Some(end) = &key.submit else {
        return match key.invoke {
            Some(mark) => format!(
                "submitted at {} (op {}) with no completion recorded, so treated as indeterminate",
                at(mark.time_ns),
                mark.index
            ),
            None => "no submit recorded".to_string(),
        };
    };
    let detail = match (end.status, end.error.as_deref()) {
        (Some(status), Some(error)) => format!("{status}: {}", short(error)),
        (Some(status), None) => status.to_string(),
        (None, Some(error)) => short(error),
        (None, None) => "no detail".to_string(),
    };
    let what = match end.kind {
        OpType::Ok => match end.status {
            Some(status) => format!("acknowledged with {status}"),
            None => "acknowledged".to_string(),
        },
        OpType::Fail => format!("submit definitely failed ({detail})"),
        OpType::Info | OpType::Invoke => format!("submit was indeterminate ({detail})"),
    };
    format!("{what} at {} (op {})", at(end.mark.time_ns), end.mark.index)
}

fn job(view: &JobView) -> String {
    let id = view.id.as_deref().unwrap_or("(no id)");
    let state = view.state.as_deref().unwrap_or("(no state)");
    match view.results {
        Some(n) if n > 1 => format!("{id} {state} with {n} results"),
        _ => format!("{id} {state}"),
    }
}

fn jobs(seen: &Seen) -> String {
    let listed: Vec<String> = seen.items.iter().map(job).collect();
    let more = seen.jobs.saturating_sub(seen.items.len() as u64);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    match seen.jobs {
        0 => "no job".to_string(),
        1 => format!("1 job: {}{tail}", listed.join(", ")),
        n => format!("{n} jobs: {}{tail}", listed.join(", ")),
    }
}

/// What the final read saw.
pub(crate) fn final_read(seen: &Seen) -> String {
    let status = match seen.status {
        Some(status) if seen.jobs == 0 && !(200..300).contains(&status) => {
            format!("HTTP {status}, ")
        }
        _ => String::new(),
    };
    format!(
        "final read at {} saw {} ({status}op {})",
        at(seen.mark.time_ns),
        jobs(seen),
        seen.mark.index
    )
}

/// "last seen at T with 1 job: ... (op N); " when an earlier read than the final one saw it.
pub(crate) fn last_seen_unless_final(key: &KeyHistory, last: &Seen) -> String {
    match &key.last_seen {
        Some(seen) if seen.mark != last.mark => format!(
            "last seen at {} with {} (op {}); ",
            at(seen.mark.time_ns),
            jobs(seen),
            seen.mark.index
        ),
        _ => String::new(),
    }
}

/// Why there is no final read to judge by.
pub(crate) fn no_final_read(key: &KeyHistory) -> String {
    let failed = |error: &ReadError| {
        format!(
            "at {}: {} (op {})",
            at(error.mark.time_ns),
            short(&error.error),
            error.mark.index
        )
    };
    let mut text = match &key.last_error {
        Some(error) if error.is_final => {
            format!(
                "no final read succeeded (the last failed {})",
                failed(error)
            )
        }
        _ => "no final read was made (settle did not run, was cancelled, or the key was never \
              registered for it)"
            .to_string(),
    };
    if let Some(error) = key.last_error.as_ref().filter(|e| !e.is_final) {
        text.push_str(&format!("; the last poll failed {}", failed(error)));
    }
    if let Some(seen) = &key.last_seen {
        text.push_str(&format!(
            "; last seen at {} with {} (op {})",
            at(seen.mark.time_ns),
            jobs(seen),
            seen.mark.index
        ));
    }
    text
}

/// A class's name, for "then judged stuck".
pub(crate) fn class_word(class: LedgerClass) -> &'static str {
    class_name(class)
}

fn sighting(s: &Sighting) -> String {
    format!(
        "{} at {} (op {})",
        s.state,
        at(s.mark.time_ns),
        s.mark.index
    )
}

/// A job seen terminal, then non-terminal.
pub(crate) fn regression(was: &Sighting, now: &Sighting) -> String {
    format!(
        "job {} was seen terminal, {}, then non-terminal again, {}",
        was.job,
        sighting(was),
        sighting(now)
    )
}

/// A job (or two jobs of the key) seen in two terminal states.
pub(crate) fn conflict(first: &Sighting, second: &Sighting) -> String {
    if first.job == second.job {
        format!(
            "job {} was seen in two terminal states: {}, then {}",
            first.job,
            sighting(first),
            sighting(second)
        )
    } else {
        format!(
            "its jobs ended in different terminal states: job {} {}, job {} {}",
            first.job,
            sighting(first),
            second.job,
            sighting(second)
        )
    }
}

/// Seconds with two decimals, for durations.
fn secs(ns: u64) -> String {
    format!("{:.2}s", ns as f64 / 1e9)
}

/// A key certainly terminal later than its objective. `bounds` are the lower and upper bound of
/// its time to terminal, in nanoseconds since the submit.
pub(crate) fn slow(
    key: &KeyHistory,
    submit: Mark,
    terminal: Mark,
    before: Mark,
    bounds: (u64, u64),
    objective_ms: u64,
    interval_ms: u64,
) -> String {
    let (lower, upper) = bounds;
    format!(
        "submitted at {} (op {}); first seen terminal {} after the submit (op {}), and the read \
         before it, {} after the submit (op {}), saw it not terminal: it took between {} and {} \
         (the time is bounded by the poll interval, {interval_ms}ms), over the objective of {}; \
         {}",
        at(submit.time_ns),
        submit.index,
        secs(upper),
        terminal.index,
        secs(lower),
        before.index,
        secs(lower),
        secs(upper),
        secs(objective_ms.saturating_mul(1_000_000)),
        submit_word(key)
    )
}

fn submit_word(key: &KeyHistory) -> String {
    match key.submit.as_ref().map(|s| s.kind) {
        Some(OpType::Ok) => "it was acknowledged".to_string(),
        _ => "its submit was indeterminate and it was recovered".to_string(),
    }
}
