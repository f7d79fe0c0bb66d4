//! The seconds of the run that thresholds scoped to a fault's window read
//! (`p(95){window=during_fault} < 800ms`): from each fault's injection to its end (a pause or a
//! toxic lasts its `for`; another fault lasts until the system recovered from it), and from the
//! recovery to the end of the test. A second belongs to a window when the window covers at least
//! half of it, so that a fault ending just after a second begins does not mix that second's
//! healthy traffic into the fault's figures.

use std::collections::BTreeSet;

use crate::metrics::window_thresholds::FaultSeconds;
use crate::report::fault::FaultSection;
use shakedown_plan::model::{FaultAction, FaultTest};

/// The fault windows of `section`, in seconds since the start of the run; `offset_ms` is where
/// the test started on that axis and `end_ms` where it ended (ms since the test's start).
pub fn fault_seconds(
    test: &FaultTest,
    section: &FaultSection,
    offset_ms: f64,
    end_ms: f64,
) -> FaultSeconds {
    let lasts = |index: u32| match test.timeline.get(index as usize).map(|e| &e.action) {
        Some(FaultAction::Pause { ttl, .. } | FaultAction::Toxic { ttl, .. }) => Some(*ttl),
        _ => None,
    };
    seconds(section, &lasts, offset_ms, end_ms)
}

/// [`fault_seconds`], with `lasts` giving how long a fault that has a fixed length lasts.
fn seconds(
    section: &FaultSection,
    lasts: &dyn Fn(u32) -> Option<std::time::Duration>,
    offset_ms: f64,
    end_ms: f64,
) -> FaultSeconds {
    let at = |ms: f64| (offset_ms + ms.max(0.0)) / 1000.0;
    // The seconds a window from `from` to `to` (ms since the test's start) covers at least half of.
    let covered = |from: f64, to: f64| {
        let first = at(from).round() as u64;
        let end = (at(to).round() as u64).max(first + 1);
        first..end
    };
    let mut during = BTreeSet::new();
    let mut first_injected: Option<f64> = None;
    for fault in &section.faults {
        let (Some(injected), true) = (fault.injected_ms, fault.method != "not injected") else {
            continue;
        };
        let ends = match lasts(fault.index) {
            Some(ttl) => Some(injected + ttl.as_secs_f64() * 1000.0),
            None => fault.recovered_ms,
        };
        first_injected = Some(first_injected.map_or(injected, |f: f64| f.min(injected)));
        let until = ends.unwrap_or(end_ms).max(injected);
        during.extend(covered(injected, until));
    }
    let after: Option<Vec<u64>> = section
        .recovery
        .recovered_ms
        .map(|recovered| covered(recovered, end_ms.max(recovered)).collect());
    // Whole seconds before the first injection and after the recovery: a second that a fault
    // or its recovery touched at all is not outside it.
    let start = at(0.0).floor() as u64;
    let end = at(end_ms).ceil() as u64;
    let outside = match first_injected {
        Some(first) => {
            let before = start..(at(first).floor() as u64);
            let after = section
                .recovery
                .recovered_ms
                .map_or(end, |recovered| at(recovered).ceil() as u64)..end;
            before
                .chain(after)
                .filter(|s| !during.contains(s))
                .collect()
        }
        None => (start..end).collect(),
    };
    FaultSeconds {
        during_fault: (!during.is_empty()).then(|| during.into_iter().collect()),
        after_recovery: after,
        outside_fault: Some(outside),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::fault::FaultRecord;

    #[test]
    fn a_second_belongs_to_the_window_that_covers_most_of_it() {
        let mut section = FaultSection::default();
        section.faults.push(FaultRecord {
            index: 0,
            injected_ms: Some(2001.0),
            recovered_ms: Some(6400.0),
            method: "proxy: added".into(),
            ..FaultRecord::default()
        });
        section.recovery.recovered_ms = Some(6400.0);
        let four_seconds = |_| Some(Duration::from_secs(4));
        let s = seconds(&section, &four_seconds, 0.0, 9000.0);
        assert_eq!(s.during_fault, Some(vec![2, 3, 4, 5]));
        assert_eq!(s.after_recovery, Some(vec![6, 7, 8]));
        assert_eq!(s.outside_fault, Some(vec![0, 1, 7, 8]));
        // A fault without a fixed length lasts until the recovery; a test that started 10.6 s
        // into the run shifts everything.
        let s = seconds(&section, &|_| None, 10_600.0, 9000.0);
        assert_eq!(s.during_fault, Some(vec![13, 14, 15, 16]));
    }
}
