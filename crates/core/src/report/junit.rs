//! `junit.xml`: one test suite for the run, with one test case per preflight target and one per
//! check, so that CI systems show a release gate like a test run.
//!
//! FAIL becomes `<failure>`; BLOCKED and INCONCLUSIVE become `<error>`, so that CI shows them as
//! not passed; SKIPPED becomes `<skipped>`. The verdict and its reasons are suite properties.

use std::fmt::Write as _;

use crate::check::TargetCheck;
use crate::report::export::Exporter;
use crate::report::model::{CheckReport, Report, ledger_class_name};
use crate::status::Status;

/// Writes `junit.xml`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JunitExporter;

/// One `<testcase>` before rendering.
struct Case {
    classname: String,
    name: String,
    seconds: f64,
    status: Status,
    message: String,
    details: String,
    output: String,
}

impl Exporter for JunitExporter {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, report: &Report) -> String {
        let suite = &report.run.plan;
        let cases: Vec<Case> = report
            .preflight
            .iter()
            .map(|t| target_case(suite, t))
            .chain(report.checks.iter().map(|c| check_case(suite, c)))
            .collect();
        let count = |pred: fn(Status) -> bool| cases.iter().filter(|c| pred(c.status)).count();
        let failures = count(|s| s == Status::Fail);
        let errors = count(|s| matches!(s, Status::Blocked | Status::Inconclusive));
        let skipped = count(|s| s == Status::Skipped);
        let seconds = run_seconds(report, &cases);
        let totals = format!(
            "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" \
             time=\"{seconds:.3}\"",
            cases.len()
        );

        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" {totals}>",
            attr(&format!("shakedown {suite}"))
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" {totals} timestamp=\"{}\">",
            attr(suite),
            attr(&report.run.started_at)
        );
        out.push_str("    <properties>\n");
        let mut property = |name: &str, value: &str| {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                attr(name),
                attr(value)
            );
        };
        property("verdict", report.verdict.as_str());
        property("exit_code", &report.exit_code.to_string());
        for reason in &report.reasons {
            property("reason", reason);
        }
        property("plan_path", &report.run.plan_path);
        property("environment", &report.run.environment);
        property("seed", &report.run.seed.to_string());
        property(
            "tool",
            &format!("{} {}", report.tool.name, report.tool.version),
        );
        out.push_str("    </properties>\n");
        for case in &cases {
            render_case(&mut out, case);
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

fn target_case(suite: &str, t: &TargetCheck) -> Case {
    let mut details = format!("{} ({})", t.reason, t.url);
    if let Some(hint) = &t.hint {
        let _ = write!(details, "\nfix: {hint}");
    }
    Case {
        classname: format!("{suite}.preflight"),
        name: format!("preflight {}", t.target),
        seconds: 0.0,
        status: t.status,
        message: joined(&t.reason, t.hint.as_deref()),
        details,
        output: format!("{}: {}", t.status, t.reason),
    }
}

fn check_case(suite: &str, c: &CheckReport) -> Case {
    let failed: Vec<String> = c
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.describe())
        .collect();
    let message = if c.status == Status::Fail && !failed.is_empty() {
        failed.join("; ")
    } else {
        joined(&c.reason, c.hint.as_deref())
    };
    let mut details = c.reason.clone();
    if let Some(hint) = &c.hint {
        let _ = write!(details, "\nfix: {hint}");
    }
    for t in &c.thresholds {
        let mark = if t.passed { "pass" } else { "FAIL" };
        let _ = write!(
            details,
            "\n[{mark}] {}{} measured {}",
            t.expression,
            t.default_mark(),
            t.measured_text()
        );
    }
    let mut output = String::new();
    if let Some(m) = &c.metrics {
        let _ = write!(
            output,
            "requests={} failures={} errors={} p50={:.1}ms p95={:.1}ms p99={:.1}ms",
            m.requests, m.failures, m.errors, m.latency_ms.p50, m.latency_ms.p95, m.latency_ms.p99
        );
        for cluster in &m.error_clusters {
            let _ = write!(output, "\nerror x{}: {}", cluster.count, cluster.signature);
        }
    }
    if let Some(ledger) = &c.ledger {
        let counts: Vec<String> = ledger
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(class, n)| format!("{}={n}", ledger_class_name(*class)))
            .collect();
        let _ = write!(
            output,
            "\nledger: tracked={} {}",
            ledger.tracked,
            counts.join(" ")
        );
        for (class, examples) in &ledger.examples {
            for e in examples {
                let _ = write!(
                    output,
                    "\n{} {}: {}",
                    ledger_class_name(*class),
                    e.key,
                    e.why
                );
            }
        }
    }
    let optional = if c.required { "" } else { " (optional)" };
    Case {
        classname: format!("{suite}.{}", c.kind.as_str()),
        name: format!("{}: {}{optional}", c.id, c.name),
        seconds: c.metrics.as_ref().map_or(0.0, |m| m.duration_ms / 1000.0),
        status: c.status,
        message,
        details,
        output: output.trim_start().to_string(),
    }
}

fn render_case(out: &mut String, case: &Case) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
        attr(&case.classname),
        attr(&case.name),
        case.seconds.max(0.0)
    );
    let element = match case.status {
        Status::Pass => None,
        Status::Fail => Some("failure"),
        Status::Blocked | Status::Inconclusive => Some("error"),
        Status::Skipped => Some("skipped"),
    };
    out.push('\n');
    if let Some(element) = element {
        let _ = writeln!(
            out,
            "      <{element} message=\"{}\" type=\"{}\">{}</{element}>",
            attr(&case.message),
            case.status,
            body(&case.details)
        );
    }
    if !case.output.is_empty() {
        let _ = writeln!(out, "      <system-out>{}</system-out>", body(&case.output));
    }
    out.push_str("    </testcase>\n");
}

fn joined(reason: &str, hint: Option<&str>) -> String {
    match hint.filter(|h| !h.trim().is_empty()) {
        Some(hint) if !reason.trim().is_empty() => format!("{}; {}", reason.trim(), hint.trim()),
        Some(hint) => hint.trim().to_string(),
        None => reason.trim().to_string(),
    }
}

/// The run's wall time from its start and end, or the sum of the cases when either is missing.
fn run_seconds(report: &Report, cases: &[Case]) -> f64 {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let from_times = parse(&report.run.started_at)
        .zip(report.run.finished_at.as_deref().and_then(parse))
        .map(|(start, end)| (end - start).num_milliseconds() as f64 / 1000.0)
        .filter(|s| *s >= 0.0);
    from_times.unwrap_or_else(|| cases.iter().map(|c| c.seconds.max(0.0)).sum())
}

/// Text for an attribute value: markup characters and both quotes escaped, line breaks kept as
/// character references, characters XML 1.0 cannot hold replaced.
fn attr(s: &str) -> String {
    escape(s, true)
}

/// Text for element content.
fn body(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 can hold the character at all (even as a character reference).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{check, report_with, sample_report, target};

    #[test]
    fn snapshot_of_a_fixed_report() {
        insta::assert_snapshot!("junit_xml", JunitExporter.render(&sample_report()));
    }

    #[test]
    fn statuses_map_to_junit_elements_and_totals() {
        let xml = JunitExporter.render(&sample_report());
        // 2 targets + 5 checks; L1 fails, L2 and target ops are errors, L4 is skipped.
        assert!(
            xml.contains("tests=\"7\" failures=\"1\" errors=\"2\" skipped=\"1\" time=\"47.250\"")
        );
        assert_eq!(xml.matches("<testcase ").count(), 7);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<error ").count(), 2);
        assert_eq!(xml.matches("<skipped ").count(), 1);
        assert!(xml.contains("<property name=\"verdict\" value=\"NO-GO\"/>"));
    }

    #[test]
    fn every_status_gets_its_element() {
        let cases = [
            (Status::Pass, None),
            (Status::Fail, Some("<failure ")),
            (Status::Blocked, Some("<error ")),
            (Status::Inconclusive, Some("<error ")),
            (Status::Skipped, Some("<skipped ")),
        ];
        for (status, element) in cases {
            let xml = JunitExporter.render(&report_with(vec![], vec![check("X1", status)]));
            for other in ["<failure ", "<error ", "<skipped "] {
                assert_eq!(
                    xml.contains(other),
                    element == Some(other),
                    "{status}: {xml}"
                );
            }
        }
    }

    #[test]
    fn markup_quotes_and_control_characters_are_escaped() {
        let mut c = check("X1", Status::Fail);
        c.name = "a \"quoted\" <name> & 'more'".into();
        c.reason = "got <html>\u{1}</html> & \"more\"\nsecond line".into();
        let mut t = target("api", Status::Blocked);
        t.reason = "connect refused & <closed>".into();
        let xml = JunitExporter.render(&report_with(vec![t], vec![c]));
        assert!(
            xml.contains("name=\"X1: a &quot;quoted&quot; &lt;name&gt; &amp; &apos;more&apos;\"")
        );
        assert!(xml.contains(
            "message=\"got &lt;html&gt;\u{FFFD}&lt;/html&gt; &amp; &quot;more&quot;&#10;second \
             line\""
        ));
        assert!(xml.contains("connect refused &amp; &lt;closed&gt;"));
        assert!(!xml.contains('\u{1}'));
        assert!(!xml.contains("<html>"));
    }

    #[test]
    fn wall_time_falls_back_to_the_cases_without_a_finish_time() {
        let mut r = sample_report();
        r.run.finished_at = None;
        let xml = JunitExporter.render(&r);
        // L1 14.25s + L3 3.125s.
        assert!(xml.contains("time=\"17.375\""), "{xml}");
    }
}
