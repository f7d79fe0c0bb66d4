//! The verification part of `report.html`: assertions with what was observed, findings naming
//! their objects or keys, recorded provenance and latencies.

use std::fmt::Write as _;

use crate::report::html_chart::esc;
use crate::report::verify_section::VerifySection;

/// Render the verification section of one check.
pub fn verify_details(out: &mut String, v: &VerifySection) {
    let oracle = v
        .oracle
        .as_deref()
        .map(|o| format!(" · oracle <code>{}</code>", esc(o)))
        .unwrap_or_default();
    let _ = write!(
        out,
        r#"<h3>Verification</h3><p>{} check{oracle}: <code>{}</code></p>"#,
        esc(&v.probe),
        esc(&v.subject)
    );
    if !v.assertions.is_empty() {
        out.push_str(r#"<table class="thresholds"><thead><tr><th>expectation</th><th>observed</th><th>result</th></tr></thead><tbody>"#);
        for a in &v.assertions {
            let (class, word) = if a.passed {
                ("pass", "pass")
            } else {
                ("fail", "fail")
            };
            let _ = write!(
                out,
                r#"<tr class="t-{class}"><td>{}</td><td>{}</td><td><span class="badge s-{class}">{word}</span></td></tr>"#,
                esc(&a.expectation),
                esc(a.observed.as_deref().unwrap_or("-"))
            );
        }
        out.push_str("</tbody></table>");
    }
    if !v.findings.is_empty() {
        let _ = write!(
            out,
            r#"<h3>Problems ({})</h3><table class="findings"><thead><tr><th>problem</th><th>object or key</th><th>detail</th></tr></thead><tbody>"#,
            v.finding_count()
        );
        for f in &v.findings {
            let _ = write!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&f.class),
                esc(&f.subject),
                esc(&f.detail)
            );
        }
        out.push_str("</tbody></table>");
    }
    if let Some(first) = v.records.first() {
        let names: Vec<&String> = first.keys().collect();
        out.push_str("<h3>Recorded</h3><table><thead><tr>");
        for n in &names {
            let _ = write!(out, "<th>{}</th>", esc(n));
        }
        out.push_str("</tr></thead><tbody>");
        for record in &v.records {
            out.push_str("<tr>");
            for n in &names {
                let value = record.get(*n).map_or_else(String::new, |v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                let _ = write!(out, "<td>{}</td>", esc(&value));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    if !v.counts.is_empty() || !v.latency_ms.is_empty() {
        out.push_str("<p>");
        let counts: Vec<String> = v.counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = write!(out, "{}", esc(&counts.join(", ")));
        for (op, s) in &v.latency_ms {
            let _ = write!(
                out,
                " · {} p50 {:.1}ms p95 {:.1}ms max {:.1}ms ({})",
                esc(op),
                s.p50,
                s.p95,
                s.max,
                s.count
            );
        }
        out.push_str("</p>");
    }
    if let Some(e) = &v.error {
        let _ = write!(out, r#"<p class="hint">Could not observe: {}</p>"#, esc(e));
    }
}
