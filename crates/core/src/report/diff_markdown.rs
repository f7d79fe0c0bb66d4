//! `shakedown diff` as Markdown, for a PR comment or a CI job summary.

use std::fmt::Write as _;

use crate::report::diff::{ReportDiff, percent_text};

/// The comparison as Markdown, for a PR comment or a CI job summary.
pub fn markdown(d: &ReportDiff) -> String {
    let mut out = String::new();
    let headline = if d.regressed() {
        format!(
            "❌ {} regression{}",
            d.regressions.len(),
            if d.regressions.len() == 1 { "" } else { "s" }
        )
    } else {
        "✅ no regression".to_string()
    };
    let _ = writeln!(out, "## shakedown diff: {headline}\n");
    for (label, s) in [("old", &d.old), ("new", &d.new)] {
        let _ = writeln!(
            out,
            "- {label}: `{}`, plan `{}`, run `{}`, {} (started {})",
            s.source, s.plan, s.run_id, s.verdict, s.started_at
        );
    }
    let rules: Vec<String> = d
        .options
        .rules
        .iter()
        .map(|r| {
            let dir = if r.metric.higher_is_worse() {
                "up"
            } else {
                "down"
            };
            format!("{} {dir} by more than {}%", r.metric.name(), r.percent)
        })
        .collect();
    let _ = writeln!(
        out,
        "- regression rules: {}; latency changes under {}ms are ignored; a check that passed and now fails or is blocked is a regression\n",
        rules.join(", "),
        d.options.noise_ms
    );
    if d.regressed() {
        out.push_str("### Regressions\n\n");
        for r in &d.regressions {
            let _ = writeln!(out, "- {r}");
        }
        out.push('\n');
    }
    for c in &d.checks {
        let _ = writeln!(
            out,
            "### {}: {} ({} -> {})\n",
            c.id, c.name, c.old_status, c.new_status
        );
        if let Some(note) = &c.note {
            let _ = writeln!(out, "_{note}_\n");
            continue;
        }
        out.push_str("| scope | metric | old | new | change |\n|---|---|---:|---:|---:|\n");
        for s in &c.scopes {
            let scope = if s.scope == "*" {
                "whole check".to_string()
            } else {
                format!("`{}`", s.scope)
            };
            for ch in &s.changes {
                let flag = if ch.regression { " ❌" } else { "" };
                let _ = writeln!(
                    out,
                    "| {scope} | {} | {} | {} | {}{flag} |",
                    ch.metric.name(),
                    ch.metric.format(ch.old),
                    ch.metric.format(ch.new),
                    percent_text(ch.percent)
                );
            }
        }
        out.push('\n');
        for (label, steps) in [("old", &c.steps_only_in_old), ("new", &c.steps_only_in_new)] {
            if !steps.is_empty() {
                let _ = writeln!(
                    out,
                    "Steps only in the {label} report: {}\n",
                    steps.join(", ")
                );
            }
        }
    }
    for (label, ids) in [
        ("old", &d.checks_only_in_old),
        ("new", &d.checks_only_in_new),
    ] {
        if !ids.is_empty() {
            let _ = writeln!(
                out,
                "Checks only in the {label} report (not compared): {}\n",
                ids.join(", ")
            );
        }
    }
    out
}
