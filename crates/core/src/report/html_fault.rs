//! The fault parts of `report.html`: fault windows and recovery points for the timeline, the
//! table of fault proofs (identities before and after, with timestamps), and a fault check's
//! recovery with its availability per second.

use std::fmt::Write as _;

use crate::check::format_measured;
use crate::report::fault::FaultSection;
use crate::report::fault_windows::fault_windows;
use crate::report::html::anchor;
use crate::report::html_chart::{Band, BandKind, Marker, esc};
use crate::report::model::{CheckReport, Report};

/// Fault windows and recovery points, from the checks' fault sections when the report has them.
pub(super) fn fault_marks(report: &Report) -> (Vec<Band>, Vec<Marker>) {
    let windows = fault_windows(report);
    let bands = windows
        .iter()
        .map(|w| Band {
            label: w.label.clone(),
            start: w.start,
            end: w.end,
            kind: BandKind::Fault,
        })
        .collect();
    let markers = windows
        .iter()
        .filter_map(|w| {
            Some(Marker {
                label: format!("{} recovered", w.check),
                at: w.recovered?,
            })
        })
        .collect();
    (bands, markers)
}

/// The fault proofs of every fault check: identities before and after, with timestamps.
pub(super) fn fault_proofs(out: &mut String, report: &Report) {
    let sections: Vec<(&CheckReport, &FaultSection)> = report
        .checks
        .iter()
        .filter_map(|c| Some((c, c.fault.as_ref()?)))
        .collect();
    if sections.is_empty() {
        return;
    }
    out.push_str(r#"<section id="faults"><h2>Fault proofs</h2><p class="legend">A fault counts only if it is proven: the target's identity changed (or the process's exit status, or the proxy's counters, say it happened) and the target became healthy again. Times are seconds since the start of each fault test.</p><table class="faults"><thead><tr><th>check</th><th>fault</th><th>method</th><th>identity before</th><th>identity after</th><th>injected</th><th class="num">first failure</th><th class="num">recovered</th><th>proof</th><th>undone</th></tr></thead><tbody>"#);
    for (check, section) in &sections {
        for f in &section.faults {
            let (class, word) = if f.proven {
                ("pass", "proven")
            } else {
                ("inconclusive", "not proven")
            };
            let _ = write!(
                out,
                r##"<tr><td><a href="#check-{}">{}</a></td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td><span class="badge s-{class}">{word}</span> {}</td><td>{}</td></tr>"##,
                esc(&anchor(&check.id)),
                esc(&check.id),
                esc(&f.action),
                esc(&f.method),
                esc(f.identity_before.as_deref().unwrap_or("-")),
                esc(f.identity_after.as_deref().unwrap_or("-")),
                esc(&match (&f.injected_at, f.injected_ms) {
                    (Some(at), Some(ms)) => format!("{at} ({})", secs(ms)),
                    (Some(at), None) => at.clone(),
                    (None, Some(ms)) => secs(ms),
                    (None, None) => "-".into(),
                }),
                f.first_failure_ms.map_or("-".into(), secs),
                f.recovered_ms.map_or("-".into(), secs),
                esc(&f.proof),
                esc(f.reverted.as_deref().unwrap_or("-"))
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

/// A fault check's recovery: time to recover, outage, drain, and availability per second.
pub(super) fn recovery_details(out: &mut String, section: &FaultSection) {
    let r = &section.recovery;
    let _ = write!(
        out,
        r#"<h3>Recovery</h3><p>Probe <code>{}</code>, {} healthy in a row within {}: recovered {}, {} probes of which {} failed; outage {}{}.</p>"#,
        esc(&r.probe),
        r.healthy,
        secs(r.within_ms),
        r.recovery_ms
            .map_or("never".to_string(), |ms| format!("after {}", secs(ms))),
        r.probes,
        r.failed_probes,
        secs(section.outage_ms),
        section.drain_ms.map_or(String::new(), |ms| format!(
            "; backlog drained in {}",
            secs(ms)
        )) + &section.ledger_drain_ms.map_or(String::new(), |ms| format!(
            "; tracked work done {} after recovery",
            secs(ms)
        ))
    );
    if section.availability.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<p>{}</p><table class="availability"><thead><tr><th class="num">second from (s since the test's start)</th><th class="num">attempts</th><th class="num">succeeded</th><th class="num">in flight from before</th><th class="num">availability ({})</th></tr></thead><tbody>"#,
        esc(&super::markdown_fault::availability_note(section)),
        esc(&section.availability_source)
    );
    let origin_s = section.run_offset_ms.unwrap_or(0.0) / 1000.0;
    for w in section.availability.iter().take(120) {
        let _ = write!(
            out,
            r#"<tr class="{}"><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td></tr>"#,
            if w.availability < 1.0 { "t-fail" } else { "" },
            format_measured(w.second as f64 - origin_s, "value"),
            w.requests,
            w.successes,
            w.in_flight,
            format_measured(w.availability * 100.0, "value")
        );
    }
    out.push_str("</tbody></table>");
}

fn secs(ms: f64) -> String {
    format!("{}s", format_measured(ms / 1000.0, "value"))
}
