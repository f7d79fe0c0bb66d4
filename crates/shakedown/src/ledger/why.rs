//! The plain-words reasons of ledger examples, e.g. "acknowledged with 201 at 1.2s (op 14);
//! final read at 9.8s saw no job (op 311)". Times are seconds on the ledger's clock.

use crate::ledger::checker::{KeyHistory, ReadError, Seen};
use crate::ledger::record::{JobView, OpType};

/// Longest error text quoted in a reason.
const MAX_ERROR_CHARS: usize = 160;

/// Seconds on the ledger's clock, to a tenth.
fn at(time_ns: u64) -> String {
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
