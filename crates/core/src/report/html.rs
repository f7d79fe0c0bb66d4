//! `report.html`: one self-contained page for people, with no script, no external resource and
//! no network request, so that it opens offline and in any mail or artifact viewer.
//!
//! The verdict and its reasons in plain words come first; then the run's timeline (throughput,
//! error rate and p50/p95/p99 per second, check spans, shaded fault windows and recovery
//! points, as inline SVG from [`html_chart`](crate::report::html_chart)); then one section per
//! check (status, thresholds with measured values, latency per step, the failure clusters, and
//! the ledger's classes with example keys and their witness operations from `history.jsonl`);
//! then the preflight and the files of the bundle. Anything missing from the run directory is
//! said at the top.
//!
//! The markup is also well-formed XML (void elements self-closed, no named entities besides the
//! five XML ones), so tests parse it with an XML reader.

use std::fmt::Write as _;

use crate::check::format_measured;
use crate::ledger::summary::LedgerSummary;
use crate::metrics::summary::{LoadSummary, WindowSummary};
use crate::report::evidence::RunEvidence;
use crate::report::export::Exporter;
use crate::report::html_chart::{self, Band, BandKind, esc};
use crate::report::html_fault;
use crate::report::model::{CheckReport, Phase, Report, ledger_class_name};
use crate::status::{Status, Verdict};

/// How many failure clusters a check shows.
const TOP_CLUSTERS: usize = 8;
/// How many example keys a ledger class shows.
const EXAMPLE_KEYS: usize = 8;

/// Writes `report.html`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    /// The page from the model alone: witness operations are listed by index only. The run
    /// directory writes it with [`render`] and the evidence read from the directory.
    fn render(&self, report: &Report) -> String {
        render(report, &RunEvidence::default())
    }
}

/// The page for `report`, with the witness operations and the notes about missing files from
/// `evidence`.
pub fn render(report: &Report, evidence: &RunEvidence) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("{}: {} (shakedown)", report.verdict, report.run.plan);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>{}</title><style>{}</style></head><body>",
        esc(&title),
        crate::report::html_style::CSS
    );
    header(&mut out, report);
    problems(&mut out, report, evidence);
    summary(&mut out, report);
    timeline(&mut out, report);
    html_fault::fault_proofs(&mut out, report);
    for check in &report.checks {
        check_section(&mut out, check, evidence);
    }
    preflight(&mut out, report);
    run_facts(&mut out, report, evidence);
    out.push_str("</body></html>\n");
    out
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Go => "go",
        Verdict::NoGo => "nogo",
        Verdict::Incomplete => "incomplete",
        Verdict::Aborted => "aborted",
    }
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Blocked => "blocked",
        Status::Inconclusive => "inconclusive",
        Status::Skipped => "skipped",
    }
}

fn badge(status: Status) -> String {
    format!(
        r#"<span class="badge s-{}">{}</span>"#,
        status_class(status),
        esc(status.as_str())
    )
}

fn header(out: &mut String, report: &Report) {
    let run = &report.run;
    let passed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Pass)
        .count();
    let _ = write!(
        out,
        r#"<header id="verdict" class="verdict v-{}" data-verdict="{}"><p class="eyebrow">shakedown release gate · plan <b>{}</b> · environment {}</p><h1><span class="verdict-word">{}</span> <span class="plan-name">{}</span></h1><p class="facts">exit code {} · {passed} of {} checks passed · started {}{}</p><h2 class="reasons-title">Why</h2><ul id="reasons" class="reasons">"#,
        verdict_class(report.verdict),
        esc(&report.verdict.to_string()),
        esc(&run.plan),
        esc(&run.environment),
        esc(&report.verdict.to_string()),
        esc(&run.plan),
        report.exit_code,
        report.checks.len(),
        esc(&run.started_at),
        run.finished_at
            .as_deref()
            .map(|f| format!(", finished {}", esc(f)))
            .unwrap_or_default(),
    );
    for reason in &report.reasons {
        let _ = write!(out, "<li>{}</li>", esc(reason));
    }
    out.push_str("</ul></header>");
    if run.phase != Phase::Complete {
        let _ = write!(
            out,
            r#"<p class="notice">Written after the {} phase: the run has not finished, and this page will be rewritten.</p>"#,
            phase_name(run.phase)
        );
    }
}

fn problems(out: &mut String, report: &Report, evidence: &RunEvidence) {
    let mut notes = evidence.problems.clone();
    if report.run.interrupted
        && let Some(why) = &report.run.stop_reason
    {
        notes.push(format!("the run stopped early: {why}"));
    }
    if notes.is_empty() {
        return;
    }
    out.push_str(
        r#"<section id="missing" class="missing"><h2>Missing or incomplete evidence</h2><ul>"#,
    );
    for note in notes {
        let _ = write!(out, "<li>{}</li>", esc(&note));
    }
    out.push_str("</ul></section>");
}

fn summary(out: &mut String, report: &Report) {
    if report.checks.is_empty() {
        out.push_str(r#"<p class="empty">The plan has no checks.</p>"#);
        return;
    }
    out.push_str(
        r#"<section id="checks"><h2>Checks</h2><table class="summary"><thead><tr><th>check</th><th>name</th><th>status</th><th class="num">requests</th><th class="num">failures</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th></tr></thead><tbody>"#,
    );
    for c in &report.checks {
        let optional = if c.required { "" } else { " (optional)" };
        let _ = write!(
            out,
            r##"<tr><td><a href="#check-{}">{}</a></td><td>{}{optional}</td><td>{}</td>"##,
            esc(&anchor(&c.id)),
            esc(&c.id),
            esc(&c.name),
            badge(c.status)
        );
        match &c.metrics {
            Some(m) => {
                let _ = write!(
                    out,
                    r#"<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>"#,
                    m.requests,
                    m.failures,
                    ms(m.latency_ms.p50),
                    ms(m.latency_ms.p95),
                    ms(m.latency_ms.p99)
                );
            }
            None => out.push_str(&r#"<td class="num">-</td>"#.repeat(5)),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

/// Every check's per-second windows on one axis (windows share "seconds since the start of the
/// run"; where two checks overlap, their counts add and the slower percentile is drawn).
fn merged_windows(report: &Report) -> Vec<WindowSummary> {
    let mut by_second: std::collections::BTreeMap<u64, WindowSummary> = Default::default();
    for m in report.checks.iter().filter_map(|c| c.metrics.as_ref()) {
        for w in &m.timeline {
            let slot = by_second.entry(w.second).or_insert_with(|| WindowSummary {
                second: w.second,
                ..WindowSummary::default()
            });
            slot.requests += w.requests;
            slot.failures += w.failures;
            slot.p50 = slot.p50.max(w.p50);
            slot.p95 = slot.p95.max(w.p95);
            slot.p99 = slot.p99.max(w.p99);
        }
    }
    by_second.into_values().collect()
}

/// A span per check that recorded windows, from its first to the end of its last second.
fn check_bands(report: &Report) -> Vec<Band> {
    report
        .checks
        .iter()
        .filter_map(|c| {
            let t = &c.metrics.as_ref()?.timeline;
            let first = t.iter().map(|w| w.second).min()?;
            let last = t.iter().map(|w| w.second).max()?;
            Some(Band {
                label: c.id.clone(),
                start: first as f64,
                end: (last + 1) as f64,
                kind: BandKind::Check,
            })
        })
        .collect()
}

fn timeline(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="timeline"><h2>Timeline</h2>"#);
    let windows = merged_windows(report);
    let mut bands = check_bands(report);
    let (fault_bands, markers) = html_fault::fault_marks(report);
    bands.extend(fault_bands);
    if windows.is_empty() {
        out.push_str(
            r#"<p class="empty">No timeline recorded: no check recorded per-second windows (no load ran, or the report comes from a version that did not record them).</p>"#,
        );
    } else {
        out.push_str(r#"<p class="legend">Each second of the run by intended start time: requests (failed ones in red), the share that failed, and latency percentiles. Checks are marked above the chart; fault windows are shaded and recovery points are dashed lines.</p><figure>"#);
        out.push_str(&html_chart::timeline(&windows, &bands, &markers));
        out.push_str("</figure>");
    }
    out.push_str("</section>");
}

fn check_section(out: &mut String, check: &CheckReport, evidence: &RunEvidence) {
    let _ = write!(
        out,
        r#"<section class="check" id="check-{}" data-check="{}" data-status="{}"><h2>{} <span class="check-id">{}</span> {}</h2>"#,
        esc(&anchor(&check.id)),
        esc(&check.id),
        esc(check.status.as_str()),
        badge(check.status),
        esc(&check.id),
        esc(&check.name)
    );
    let optional = if check.required {
        ""
    } else {
        " This check is optional: it does not change the verdict."
    };
    if !check.reason.trim().is_empty() || !optional.is_empty() {
        let _ = write!(
            out,
            r#"<p class="reason">{}{optional}</p>"#,
            esc(check.reason.trim())
        );
    }
    if let Some(hint) = check.hint.as_deref().filter(|h| !h.trim().is_empty()) {
        let _ = write!(out, r#"<p class="hint"><b>Fix:</b> {}</p>"#, esc(hint));
    }
    if !check.thresholds.is_empty() {
        out.push_str(r#"<h3>Thresholds</h3><table class="thresholds"><thead><tr><th>threshold</th><th class="num">measured</th><th>result</th></tr></thead><tbody>"#);
        for t in &check.thresholds {
            let (class, word) = if t.passed {
                ("pass", "pass")
            } else {
                ("fail", "fail")
            };
            let _ = write!(
                out,
                r#"<tr class="t-{class}"><td><code>{}</code>{}</td><td class="num">{}</td><td><span class="badge s-{class}">{word}</span></td></tr>"#,
                esc(&t.expression),
                t.default_mark(),
                esc(&t.measured_text())
            );
        }
        out.push_str("</tbody></table>");
    }
    if let Some(section) = &check.fault {
        html_fault::recovery_details(out, section);
    }
    if let Some(section) = &check.verify {
        crate::report::html_verify::verify_details(out, section);
    }
    if let Some(m) = &check.metrics {
        load_details(out, m);
    }
    if let Some(ledger) = &check.ledger {
        // A fault check's times are from its own start, its witness operations' too.
        let origin = check.fault.as_ref().and_then(|f| f.run_offset_ms);
        ledger_details(out, ledger, evidence, origin);
    }
    out.push_str("</section>");
}

fn load_details(out: &mut String, m: &LoadSummary) {
    let _ = write!(
        out,
        r#"<h3>Load</h3><p>{} requests in {:.1}s ({} req/s), {} failed, {} without a response; {} iterations, {} failed.</p>"#,
        m.requests,
        m.duration_ms / 1000.0,
        format_measured(m.requests_per_second, "value"),
        m.failures,
        m.errors,
        m.iterations,
        m.failed_iterations
    );
    if !m.steps.is_empty() {
        let rows: Vec<(String, _)> = m
            .steps
            .iter()
            .map(|s| (s.step.clone(), s.latency_ms.clone()))
            .collect();
        let chart = html_chart::latency_percentiles(&rows);
        if !chart.is_empty() {
            out.push_str(r#"<figure class="latency-chart">"#);
            out.push_str(&chart);
            out.push_str("<figcaption>Latency per step: the line runs from min to max, the box from p50 to p95, ticks at p50 and p99 (log scale).</figcaption></figure>");
        }
        out.push_str(r#"<table class="steps"><thead><tr><th>step</th><th class="num">requests</th><th class="num">failures</th><th class="num">no response</th><th>status classes</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th><th class="num">max</th></tr></thead><tbody>"#);
        for s in &m.steps {
            let classes: Vec<String> = s
                .status_classes
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect();
            let _ = write!(
                out,
                r#"<tr><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&s.step),
                s.requests,
                s.failures,
                s.errors,
                esc(&classes.join(", ")),
                ms(s.latency_ms.p50),
                ms(s.latency_ms.p95),
                ms(s.latency_ms.p99),
                ms(s.latency_ms.max)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !m.gauges.is_empty() {
        out.push_str(r#"<table class="gauges"><thead><tr><th>gauge</th><th class="num">samples</th><th class="num">failed samples</th><th class="num">min</th><th class="num">avg</th><th class="num">max</th><th class="num">last</th></tr></thead><tbody>"#);
        let value = |v: Option<f64>| v.map_or("-".to_string(), |v| format_measured(v, "value"));
        for (name, g) in &m.gauges {
            let _ = write!(
                out,
                r#"<tr><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(name),
                g.samples,
                g.failed_samples,
                value(g.min),
                value(g.avg),
                value(g.max),
                value(g.last)
            );
        }
        out.push_str("</tbody></table>");
    }
    clusters(out, m);
}

fn clusters(out: &mut String, m: &LoadSummary) {
    if m.error_clusters.is_empty() {
        return;
    }
    out.push_str(r#"<h3>Failure clusters</h3><table class="clusters"><thead><tr><th class="num">count</th><th class="num">share</th><th>seen</th><th>signature</th><th>examples</th><th>during a fault</th></tr></thead><tbody>"#);
    for c in m.error_clusters.iter().take(TOP_CLUSTERS) {
        let examples = if c.examples.is_empty() {
            std::slice::from_ref(&c.example)
        } else {
            c.examples.as_slice()
        };
        let examples: Vec<String> = examples
            .iter()
            .map(|e| format!("<code>{}</code>", esc(e)))
            .collect();
        let _ = write!(
            out,
            r#"<tr><td class="num">{}</td><td class="num">{}</td><td>{}</td><td><code>{}</code></td><td class="examples">{}</td><td>{}</td></tr>"#,
            c.count,
            share(c.share),
            esc(&seen(c.first_second, c.last_second)),
            esc(&c.signature),
            examples.join("<br/>"),
            match c.during_fault {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
        );
    }
    out.push_str("</tbody></table>");
    if m.error_clusters.len() > TOP_CLUSTERS {
        let _ = write!(
            out,
            "<p>{} more clusters in <code>report.json</code>.</p>",
            m.error_clusters.len() - TOP_CLUSTERS
        );
    }
}

fn share(share: f64) -> String {
    if share <= 0.0 {
        "-".to_string()
    } else {
        format!("{}%", format_measured(share * 100.0, "value"))
    }
}

fn seen(first: Option<u64>, last: Option<u64>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => format!("second {a}"),
        (Some(a), Some(b)) => format!("seconds {a} to {b}"),
        _ => "-".to_string(),
    }
}

fn ledger_details(
    out: &mut String,
    ledger: &LedgerSummary,
    evidence: &RunEvidence,
    origin_ms: Option<f64>,
) {
    let (origin_s, clock) = match origin_ms {
        Some(ms) => (ms / 1000.0, "s since the test's start"),
        None => (0.0, "s since the run's start"),
    };
    let settled = if ledger.settled {
        "every key reached a terminal state before the settle deadline"
    } else {
        "the settle deadline passed before every key was terminal"
    };
    let _ = write!(
        out,
        r#"<h3>Ledger</h3><p>{} keys tracked; {settled}.</p><table class="ledger"><thead><tr><th>class</th><th class="num">count</th></tr></thead><tbody>"#,
        ledger.tracked
    );
    for (class, count) in &ledger.counts {
        let name = ledger_class_name(*class);
        let bad = *count > 0 && name != "ok";
        let _ = write!(
            out,
            r#"<tr class="{}"><td><code>{}</code></td><td class="num">{count}</td></tr>"#,
            if bad { "t-fail" } else { "" },
            esc(&name)
        );
    }
    out.push_str("</tbody></table>");
    let figures = ledger.figures();
    if !figures.is_empty() {
        out.push_str(r#"<ul class="ledger-figures">"#);
        for line in &figures {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str("</ul>");
    }
    for (class, examples) in ledger.examples.iter().filter(|(_, e)| !e.is_empty()) {
        let name = ledger_class_name(*class);
        let _ = write!(
            out,
            r#"<h4>{}: example keys</h4><ul class="examples">"#,
            esc(&name)
        );
        for e in examples.iter().take(EXAMPLE_KEYS) {
            let _ = write!(out, r#"<li><code>{}</code>: {}"#, esc(&e.key), esc(&e.why));
            if !e.witnesses.is_empty() {
                let _ = write!(
                    out,
                    r#"<table class="witnesses"><thead><tr><th class="num">op</th><th class="num">time ({clock})</th><th>process</th><th>type</th><th>f</th><th>value</th></tr></thead><tbody>"#
                );
                for index in &e.witnesses {
                    match evidence.witnesses.get(index) {
                        Some(op) => {
                            let _ = write!(
                                out,
                                r#"<tr><td class="num">{}</td><td class="num">{:.3}s</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>"#,
                                op.index,
                                op.seconds - origin_s,
                                esc(&op.process),
                                esc(&op.kind),
                                esc(&op.f),
                                esc(&op.value)
                            );
                        }
                        None => {
                            let _ = write!(
                                out,
                                r#"<tr><td class="num">{index}</td><td colspan="5">see history.jsonl</td></tr>"#
                            );
                        }
                    }
                }
                out.push_str("</tbody></table>");
            }
            out.push_str("</li>");
        }
        if examples.len() > EXAMPLE_KEYS {
            let _ = write!(
                out,
                "<li>and {} more in <code>report.json</code></li>",
                examples.len() - EXAMPLE_KEYS
            );
        }
        out.push_str("</ul>");
    }
}

fn preflight(out: &mut String, report: &Report) {
    if report.preflight.is_empty() {
        return;
    }
    out.push_str(r#"<section id="preflight"><h2>Preflight</h2><table><thead><tr><th>target</th><th>url</th><th>status</th><th>observed</th><th>fix</th></tr></thead><tbody>"#);
    for t in &report.preflight {
        let _ = write!(
            out,
            r#"<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&t.target),
            esc(&t.url),
            badge(t.status),
            esc(&t.reason),
            esc(t.hint.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table></section>");
}

fn run_facts(out: &mut String, report: &Report, evidence: &RunEvidence) {
    let run = &report.run;
    let _ = write!(
        out,
        r#"<section id="run"><h2>The run</h2><dl><dt>run id</dt><dd><code>{}</code></dd><dt>plan</dt><dd><code>{}</code> ({})</dd><dt>seed</dt><dd>{}</dd><dt>phase</dt><dd>{}</dd><dt>tool</dt><dd>{} {}</dd></dl>"#,
        esc(&run.id),
        esc(&run.plan_path),
        esc(&run.plan),
        run.seed,
        phase_name(run.phase),
        esc(&report.tool.name),
        esc(&report.tool.version)
    );
    if !evidence.files.is_empty() {
        out.push_str(r#"<h3>Files of the bundle</h3><p>Once the run ends, <code>manifest.json</code> records the SHA-256 of every file; <code>shakedown verify-bundle DIR</code> checks them.</p><ul class="files">"#);
        for (name, bytes) in &evidence.files {
            let _ = write!(out, "<li><code>{}</code> ({bytes} bytes)</li>", esc(name));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
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

/// An id usable in `id` attributes and fragment links: anything but letters, digits, `-` and
/// `_` becomes `_`.
pub(crate) fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
