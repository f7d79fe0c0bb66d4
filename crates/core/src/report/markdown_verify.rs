//! The verification part of `report.md`: the subject, each assertion with what was observed,
//! the findings (each naming its object or key), recorded provenance and latencies.

use std::fmt::Write as _;

use crate::report::table::{Align, Table};
use crate::report::verify_section::VerifySection;

/// Findings shown per check in Markdown (the JSON keeps up to 32 per class).
const SHOWN_FINDINGS: usize = 10;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Render the verification section of one check.
pub fn verify_details(out: &mut String, v: &VerifySection) {
    let oracle = v
        .oracle
        .as_deref()
        .map(|o| format!(" (oracle `{}`)", o.replace('`', "'")))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} check{oracle}: `{}`\n",
        v.probe,
        v.subject.replace('`', "'")
    );
    if !v.assertions.is_empty() {
        let mut table = Table::new(&[
            ("expectation", Align::Left),
            ("observed", Align::Left),
            ("result", Align::Left),
        ]);
        for a in &v.assertions {
            let result = if a.passed { "✅ pass" } else { "❌ fail" };
            table.row([
                cell(&a.expectation),
                cell(a.observed.as_deref().unwrap_or("-")),
                result.to_string(),
            ]);
        }
        out.push_str(&table.markdown());
        out.push('\n');
    }
    if !v.findings.is_empty() {
        let total = v.finding_count();
        let mut table = Table::new(&[
            ("problem", Align::Left),
            ("object or key", Align::Left),
            ("detail", Align::Left),
        ]);
        for f in v.findings.iter().take(SHOWN_FINDINGS) {
            table.row([cell(&f.class), cell(&f.subject), cell(&f.detail)]);
        }
        let _ = writeln!(
            out,
            "Problems: {total} (the first {} below; report.json lists up to 32 per class)\n",
            v.findings.len().min(SHOWN_FINDINGS)
        );
        out.push_str(&table.markdown());
        out.push('\n');
    }
    if let Some(first) = v.records.first() {
        let names: Vec<&String> = first.keys().collect();
        let columns: Vec<(&str, Align)> = names.iter().map(|n| (n.as_str(), Align::Left)).collect();
        let mut table = Table::new(&columns);
        for record in &v.records {
            table.row(names.iter().map(|n| {
                cell(&record.get(*n).map_or_else(String::new, |v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))
            }));
        }
        out.push_str("Recorded:\n\n");
        out.push_str(&table.markdown());
        out.push('\n');
    }
    let counts: Vec<String> = v.counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let latency: Vec<String> = v
        .latency_ms
        .iter()
        .map(|(op, s)| {
            format!(
                "{op} p50 {:.1}ms p95 {:.1}ms max {:.1}ms ({})",
                s.p50, s.p95, s.max, s.count
            )
        })
        .collect();
    if !counts.is_empty() || !latency.is_empty() {
        let _ = writeln!(
            out,
            "{}\n",
            [counts.join(", "), latency.join("; ")]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    if let Some(e) = &v.error {
        let _ = writeln!(out, "Could not observe: {}\n", cell(e));
    }
}
