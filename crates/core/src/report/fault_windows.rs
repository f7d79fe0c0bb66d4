//! Fault windows on the run's one time axis (seconds since the start of the run), from the fault
//! sections of the report's checks: what the HTML timeline shades, and what decides whether a
//! failure cluster overlapped a fault.
//!
//! A fault section counts its times in milliseconds since the start of its fault test; the test's
//! RFC 3339 start and the run's give the offset between the two axes.

use chrono::DateTime;

use crate::report::model::Report;

/// One fault, from injection to recovery, in seconds since the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    /// The check it belongs to.
    pub check: String,
    /// `C1: kill worker-0 with SIGKILL`.
    pub label: String,
    /// Injection.
    pub start: f64,
    /// Recovery (the first of K healthy probes), or the last known time of the test.
    pub end: f64,
    /// When the target was recovered, if it was.
    pub recovered: Option<f64>,
}

/// Seconds from `from` to `to`, both RFC 3339.
fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let a = DateTime::parse_from_rfc3339(from).ok()?;
    let b = DateTime::parse_from_rfc3339(to).ok()?;
    Some((b - a).num_milliseconds() as f64 / 1000.0)
}

/// Every fault window of the report, in check order.
pub fn fault_windows(report: &Report) -> Vec<FaultWindow> {
    let mut out = Vec::new();
    for check in &report.checks {
        let Some(section) = &check.fault else {
            continue;
        };
        let Some(offset) = seconds_between(&report.run.started_at, &section.started_at) else {
            continue;
        };
        let at = |ms: f64| offset + ms / 1000.0;
        // Where the test's evidence ends, for a fault that never recovered.
        let last_known = section
            .availability
            .iter()
            .map(|w| (w.second + 1) as f64)
            .fold(f64::NAN, f64::max);
        let recovery_end = section.recovery.recovered_ms.map(at);
        for fault in &section.faults {
            let Some(injected) = fault.injected_ms.map(at) else {
                continue;
            };
            let recovered = fault.recovered_ms.map(at);
            let end = recovered
                .or(fault.first_healthy_ms.map(at))
                .or(recovery_end)
                .or((!last_known.is_nan()).then_some(last_known))
                .unwrap_or(injected + 1.0)
                .max(injected);
            out.push(FaultWindow {
                check: check.id.clone(),
                label: format!("{}: {}", check.id, fault.action),
                start: injected,
                end,
                recovered,
            });
        }
    }
    out
}

/// Mark each failure cluster of a fault check with whether its first-to-last seconds overlap
/// one of that check's fault windows. Clusters of checks without faults, or without times, keep
/// `None`.
pub fn mark_clusters(report: &mut Report) {
    let windows = fault_windows(report);
    for check in &mut report.checks {
        let mine: Vec<&FaultWindow> = windows.iter().filter(|w| w.check == check.id).collect();
        let Some(metrics) = check.metrics.as_mut() else {
            continue;
        };
        for cluster in &mut metrics.error_clusters {
            cluster.during_fault = match (cluster.first_second, cluster.last_second) {
                (Some(first), Some(last)) if !mine.is_empty() => {
                    // A cluster seen in seconds [first, last] covers [first, last + 1).
                    let (a, b) = (first as f64, (last + 1) as f64);
                    Some(
                        mine.iter()
                            .any(|w| a < w.end.max(w.start + 0.001) && w.start < b),
                    )
                }
                _ => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fault::{FaultRecord, FaultSection};
    use crate::report::fixtures::sample_report;

    fn with_fault(started_at: &str, injected_ms: f64, recovered_ms: Option<f64>) -> Report {
        let mut report = sample_report();
        report.checks[0].fault = Some(FaultSection {
            started_at: started_at.into(),
            faults: vec![FaultRecord {
                action: "kill worker-0 with SIGKILL".into(),
                injected_ms: Some(injected_ms),
                recovered_ms,
                ..FaultRecord::default()
            }],
            ..FaultSection::default()
        });
        report
    }

    #[test]
    fn windows_are_placed_on_the_run_axis() {
        // The run started at 03:04:05.000; the fault test 10 s later; injection 1.5 s into it.
        let report = with_fault("2026-01-02T03:04:15.000Z", 1500.0, Some(4000.0));
        let w = fault_windows(&report);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].label, "L1: kill worker-0 with SIGKILL");
        assert_eq!((w[0].start, w[0].end), (11.5, 14.0));
        assert_eq!(w[0].recovered, Some(14.0));
    }

    #[test]
    fn clusters_overlapping_a_fault_are_marked_and_others_are_not() {
        // The fixture's cluster was seen in seconds 3 to 11.
        let mut inside = with_fault("2026-01-02T03:04:05.000Z", 10_000.0, Some(12_000.0));
        mark_clusters(&mut inside);
        let cluster = |r: &Report| {
            r.checks[0]
                .metrics
                .as_ref()
                .map(|m| m.error_clusters[0].during_fault)
        };
        assert_eq!(cluster(&inside), Some(Some(true)));
        let mut after = with_fault("2026-01-02T03:04:05.000Z", 20_000.0, None);
        mark_clusters(&mut after);
        assert_eq!(cluster(&after), Some(Some(false)));
        let mut none = sample_report();
        mark_clusters(&mut none);
        assert_eq!(cluster(&none), Some(None), "no fault, no answer");
    }
}
