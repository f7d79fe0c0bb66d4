//! `report.md`: the verdict and its reasons, a summary table of every check, then each check's
//! thresholds, steps, gauges, ledger and top error clusters, and the preflight. It is written to
//! be pasted as a PR comment or published as a CI job summary.

use std::fmt::Write as _;

use crate::check::format_measured;
use crate::ledger::summary::LedgerSummary;
use crate::metrics::summary::LoadSummary;
use crate::report::export::Exporter;
use crate::report::model::{CheckReport, Phase, Report, ledger_class_name};
use crate::report::table::{Align, Table};
use crate::status::{Status, Verdict};

/// How many error clusters a check shows.
const TOP_CLUSTERS: usize = 5;
/// How many example keys a ledger class shows.
const EXAMPLE_KEYS: usize = 5;
/// Longest error example shown, in characters.
const EXAMPLE_CHARS: usize = 160;

/// Writes `report.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, report: &Report) -> String {
        let mut out = String::new();
        header(&mut out, report);
        summary(&mut out, report);
        for check in &report.checks {
            check_section(&mut out, check);
        }
        preflight(&mut out, report);
        out
    }
}

fn header(out: &mut String, report: &Report) {
    let run = &report.run;
    let _ = writeln!(
        out,
        "# {} {}: {}\n",
        verdict_mark(report.verdict),
        report.verdict,
        text(&run.plan)
    );
    let finished = match &run.finished_at {
        Some(at) => format!(", finished {}", text(at)),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "Plan {} (environment {}, seed {}), started {}{}. Exit code {}. {} {}.\n",
        code(&run.plan_path),
        code(&run.environment),
        run.seed,
        text(&run.started_at),
        finished,
        report.exit_code,
        text(&report.tool.name),
        text(&report.tool.version),
    );
    if run.phase != Phase::Complete {
        let _ = writeln!(
            out,
            "_Written after the {} phase: the run has not finished, and this report will be \
             rewritten._\n",
            phase_name(run.phase)
        );
    }
    if let Some(watch) = &run.watch {
        let _ = writeln!(out, "{}\n", text(&watch.describe()));
    }
    out.push_str("## Reasons\n\n");
    for reason in &report.reasons {
        let _ = writeln!(out, "- {}", text(reason));
    }
    out.push('\n');
}

fn summary(out: &mut String, report: &Report) {
    if report.checks.is_empty() {
        return;
    }
    out.push_str("## Checks\n\n");
    let mut table = Table::new(&[
        ("id", Align::Left),
        ("name", Align::Left),
        ("status", Align::Left),
        ("requests", Align::Right),
        ("failures", Align::Right),
        ("p50", Align::Right),
        ("p95", Align::Right),
        ("p99", Align::Right),
    ]);
    for check in &report.checks {
        let mut name = text(&check.name);
        if !check.required {
            name.push_str(" _(optional)_");
        }
        let mut row = vec![code(&check.id), name, status_cell(check.status)];
        match &check.metrics {
            Some(m) => row.extend([
                m.requests.to_string(),
                m.failures.to_string(),
                ms(m.latency_ms.p50),
                ms(m.latency_ms.p95),
                ms(m.latency_ms.p99),
            ]),
            None => row.extend(std::iter::repeat_n("-".to_string(), 5)),
        }
        table.row(row);
    }
    out.push_str(&table.markdown());
    out.push('\n');
}

fn check_section(out: &mut String, check: &CheckReport) {
    let _ = writeln!(out, "## {}: {}\n", text(&check.id), text(&check.name));
    let optional = if check.required { "" } else { " (optional)" };
    let _ = write!(out, "{}{optional}", status_cell(check.status));
    if !check.reason.trim().is_empty() {
        let _ = write!(out, ": {}", text(&check.reason));
    }
    out.push_str("\n\n");
    if let Some(hint) = check.hint.as_deref().filter(|h| !h.trim().is_empty()) {
        let _ = writeln!(out, "**Fix:** {}\n", text(hint));
    }
    if !check.thresholds.is_empty() {
        let mut table = Table::new(&[
            ("threshold", Align::Left),
            ("measured", Align::Right),
            ("result", Align::Left),
        ]);
        for t in &check.thresholds {
            let result = if t.passed { "✅ pass" } else { "❌ fail" };
            table.row([
                format!("{}{}", code(&t.expression), t.default_mark()),
                t.measured_text(),
                result.to_string(),
            ]);
        }
        out.push_str(&table.markdown());
        out.push('\n');
    }
    if let Some(fault) = &check.fault {
        crate::report::markdown_fault::fault_details(out, fault);
    }
    if let Some(section) = &check.verify {
        crate::report::markdown_verify::verify_details(out, section);
    }
    if let Some(metrics) = &check.metrics {
        load_details(out, metrics);
    }
    if let Some(ledger) = &check.ledger {
        ledger_details(out, ledger);
    }
}

fn load_details(out: &mut String, m: &LoadSummary) {
    let _ = writeln!(
        out,
        "{} requests in {:.1}s ({} req/s), {} failed, {} without a response; {} iterations, {} \
         failed.\n",
        m.requests,
        m.duration_ms / 1000.0,
        format_measured(m.requests_per_second, "value"),
        m.failures,
        m.errors,
        m.iterations,
        m.failed_iterations,
    );
    if !m.steps.is_empty() {
        let mut table = Table::new(&[
            ("step", Align::Left),
            ("requests", Align::Right),
            ("failures", Align::Right),
            ("errors", Align::Right),
            ("p50", Align::Right),
            ("p95", Align::Right),
            ("p99", Align::Right),
        ]);
        for s in &m.steps {
            table.row([
                code(&s.step),
                s.requests.to_string(),
                s.failures.to_string(),
                s.errors.to_string(),
                ms(s.latency_ms.p50),
                ms(s.latency_ms.p95),
                ms(s.latency_ms.p99),
            ]);
        }
        out.push_str(&table.markdown());
        out.push('\n');
    }
    if !m.gauges.is_empty() {
        let mut table = Table::new(&[
            ("gauge", Align::Left),
            ("samples", Align::Right),
            ("failed samples", Align::Right),
            ("min", Align::Right),
            ("avg", Align::Right),
            ("max", Align::Right),
            ("last", Align::Right),
        ]);
        let value = |v: Option<f64>| v.map_or("-".to_string(), |v| format_measured(v, "value"));
        for (name, g) in &m.gauges {
            table.row([
                code(name),
                g.samples.to_string(),
                g.failed_samples.to_string(),
                value(g.min),
                value(g.avg),
                value(g.max),
                value(g.last),
            ]);
        }
        out.push_str(&table.markdown());
        out.push('\n');
    }
    if !m.error_clusters.is_empty() {
        let _ = writeln!(out, "Top errors:\n");
        let faults = m.error_clusters.iter().any(|c| c.during_fault.is_some());
        let mut columns = vec![
            ("count", Align::Right),
            ("share", Align::Right),
            ("seen", Align::Left),
            ("signature", Align::Left),
            ("example", Align::Left),
        ];
        if faults {
            columns.push(("during a fault", Align::Left));
        }
        let mut table = Table::new(&columns);
        for c in m.error_clusters.iter().take(TOP_CLUSTERS) {
            let share = if c.share > 0.0 {
                format!("{}%", format_measured(c.share * 100.0, "value"))
            } else {
                "-".to_string()
            };
            let seen = match (c.first_second, c.last_second) {
                (Some(a), Some(b)) if a == b => format!("{a}s"),
                (Some(a), Some(b)) => format!("{a}s to {b}s"),
                _ => "-".to_string(),
            };
            let mut row = vec![
                c.count.to_string(),
                share,
                seen,
                code(&c.signature),
                code(&shorten(&c.example, EXAMPLE_CHARS)),
            ];
            if faults {
                row.push(match c.during_fault {
                    Some(true) => "yes".to_string(),
                    Some(false) => "no".to_string(),
                    None => "-".to_string(),
                });
            }
            table.row(row);
        }
        out.push_str(&table.markdown());
        if m.error_clusters.len() > TOP_CLUSTERS {
            let _ = writeln!(
                out,
                "\n{} more clusters in `report.json`.",
                m.error_clusters.len() - TOP_CLUSTERS
            );
        }
        out.push('\n');
    }
}

fn ledger_details(out: &mut String, ledger: &LedgerSummary) {
    let settled = if ledger.settled {
        "every key reached a terminal state before the settle deadline"
    } else {
        "the settle deadline passed before every key was terminal"
    };
    let _ = writeln!(out, "Ledger: {} keys tracked; {settled}.\n", ledger.tracked);
    let mut table = Table::new(&[
        ("class", Align::Left),
        ("count", Align::Right),
        ("example keys", Align::Left),
    ]);
    for (class, count) in ledger.counts.iter().filter(|(_, n)| **n > 0) {
        let examples = ledger.examples.get(class).map(Vec::as_slice).unwrap_or(&[]);
        let mut keys: Vec<String> = examples
            .iter()
            .take(EXAMPLE_KEYS)
            .map(|e| code(&e.key))
            .collect();
        if (*count as usize) > keys.len() && !keys.is_empty() {
            keys.push(format!("and {} more", *count as usize - keys.len()));
        }
        table.row([
            code(&ledger_class_name(*class)),
            count.to_string(),
            keys.join(", "),
        ]);
    }
    if !table.is_empty() {
        out.push_str(&table.markdown());
        out.push('\n');
    }
    let figures = ledger.figures();
    for line in &figures {
        let _ = writeln!(out, "- {}", text(line));
    }
    if !figures.is_empty() {
        out.push('\n');
    }
    for (class, examples) in &ledger.examples {
        for e in examples.iter().take(EXAMPLE_KEYS) {
            let witnesses: Vec<String> = e.witnesses.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "- {} {}: {} (history ops {})",
                code(&ledger_class_name(*class)),
                code(&e.key),
                text(&e.why),
                witnesses.join(", ")
            );
        }
    }
    if ledger.examples.values().any(|v| !v.is_empty()) {
        out.push('\n');
    }
}

fn preflight(out: &mut String, report: &Report) {
    if report.preflight.is_empty() {
        return;
    }
    out.push_str("## Preflight\n\n");
    let mut table = Table::new(&[
        ("target", Align::Left),
        ("url", Align::Left),
        ("status", Align::Left),
        ("observed", Align::Left),
        ("fix", Align::Left),
    ]);
    for t in &report.preflight {
        table.row([
            code(&t.target),
            code(&t.url),
            status_cell(t.status),
            text(&t.reason),
            t.hint.as_deref().map(text).unwrap_or_default(),
        ]);
    }
    out.push_str(&table.markdown());
}

fn verdict_mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Go => "✅",
        Verdict::NoGo => "❌",
        Verdict::Incomplete => "⚠️",
        Verdict::Aborted => "⏹️",
    }
}

fn status_cell(status: Status) -> String {
    let mark = match status {
        Status::Pass => "✅",
        Status::Fail => "❌",
        Status::Blocked => "⛔",
        Status::Inconclusive => "❔",
        Status::Skipped => "⏭️",
    };
    format!("{mark} **{status}**")
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Preflight => "preflight",
        Phase::Load => "load",
        Phase::Settle => "settle",
        Phase::Verify => "verify",
        Phase::Complete => "complete",
    }
}

fn ms(value: f64) -> String {
    format_measured(value, "ms")
}

/// Plain text for Markdown: anything that could open an HTML tag (`<` before a letter, `/`, `!`
/// or `?`) is escaped, so that a body captured from a target cannot inject markup into a PR
/// comment; line breaks become spaces, so that a reason cannot start a new block.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.trim().chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;")
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// An inline code span that holds `s` verbatim, whatever backticks it contains.
fn code(s: &str) -> String {
    let s: String = s
        .trim()
        .chars()
        .map(|c| if matches!(c, '\r' | '\n') { ' ' } else { c })
        .collect();
    if s.is_empty() {
        return String::new();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || longest > 0 {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{check, report_with, sample_report};

    #[test]
    fn snapshot_of_a_fixed_report() {
        insta::assert_snapshot!("report_md", MarkdownExporter.render(&sample_report()));
    }

    #[test]
    fn verdict_title_reasons_and_summary_row_come_from_the_model() {
        let md = MarkdownExporter.render(&sample_report());
        assert!(md.starts_with("# ❌ NO-GO: testbed-demo\n"), "{md}");
        assert!(md.contains("- L1 FAIL: count(failures) == 0 measured 2; p(95) < 5000ms"));
        assert!(md.contains("| `L1` | Concurrency"));
        assert!(md.contains("| 180 | 2 | 850.2ms | 6120.4ms | 7400ms |"));
        assert!(md.contains("| `p(95) < 5000ms` | 6120.4ms | ❌ fail |"));
        assert!(md.contains("`a4e3b2c1-0f9e-4d8c-b7a6-958473625140`"));
        assert!(md.contains("## Preflight"));
    }

    #[test]
    fn captured_markup_is_escaped_outside_code_spans() {
        let mut c = check("L1", Status::Fail);
        c.reason = "body was <script>alert(1)</script>\n# not a heading".into();
        let mut r = report_with(vec![], vec![c]);
        r.decide();
        let md = MarkdownExporter.render(&r);
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("&lt;script>alert(1)&lt;/script> # not a heading"));
        assert!(!md.lines().any(|l| l.starts_with("# not a heading")));
    }

    #[test]
    fn an_unfinished_run_says_so() {
        let mut r = report_with(vec![], vec![check("L1", Status::Inconclusive)]);
        r.run.phase = Phase::Load;
        r.decide();
        let md = MarkdownExporter.render(&r);
        assert!(md.contains("_Written after the load phase"), "{md}");
        assert!(md.starts_with("# ⚠️ INCOMPLETE: testbed-demo"));
    }

    #[test]
    fn what_the_ledger_watch_did_is_said_under_the_title() {
        let mut r = sample_report();
        assert!(!MarkdownExporter.render(&r).contains("during the run"));
        r.run.watch = Some(crate::ledger::watch::WatchSummary {
            keys: 40,
            terminal_keys: 38,
            reads: 120,
            load_requests: 300,
            failed_reads: 3,
            skipped_for_share: 7,
            rate_waits: 0,
            stopped: Some(crate::ledger::watch::WatchStop::RequestLimit),
        });
        let md = MarkdownExporter.render(&r);
        assert!(
            md.contains(
                "The ledger read tracked work during the run: 120 reads of 40 keys (the load \
                 sent 300 requests), 38 seen terminal; 3 failed; 7 due reads skipped (settle.watch.share of the requests \
                 sent was reached); stopped early: limits.requests was spent.\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code(""), "");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
