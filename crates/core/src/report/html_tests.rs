//! Tests of `report.html`: the page is parsed (it is well-formed XML by design) and checked as a
//! tree: the verdict, one section per check, the timeline, the witnesses, no script and no
//! external resource.

use std::collections::BTreeMap;

use quick_xml::events::Event;

use crate::metrics::summary::WindowSummary;
use crate::report::evidence::{RunEvidence, WitnessOp};
use crate::report::fixtures::{check, report_with, sample_report};
use crate::report::html::render;
use crate::report::model::Report;
use crate::status::Status;

/// A parsed element.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    /// Every descendant (and self) matching `pred`, in document order.
    fn find_all<'a>(&'a self, pred: &dyn Fn(&Node) -> bool, out: &mut Vec<&'a Node>) {
        if pred(self) {
            out.push(self);
        }
        for c in &self.children {
            c.find_all(pred, out);
        }
    }

    fn all(&self, pred: &dyn Fn(&Node) -> bool) -> Vec<&Node> {
        let mut out = Vec::new();
        self.find_all(pred, &mut out);
        out
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }

    /// All text inside, in document order (text runs are `#text` children).
    fn inner_text(&self) -> String {
        let mut out = self.text.clone();
        for c in &self.children {
            out.push_str(&c.inner_text());
        }
        out
    }

    /// Append text as a `#text` child, merging with a text child just before it.
    fn push_text(&mut self, text: &str) {
        match self.children.last_mut() {
            Some(last) if last.name == "#text" => last.text.push_str(text),
            _ => self.children.push(Node {
                name: "#text".into(),
                text: text.to_string(),
                ..Node::default()
            }),
        }
    }
}

/// Parse the page as XML into a tree; panics (failing the test) if it is not well-formed.
fn parse(html: &str) -> Node {
    let mut reader = quick_xml::Reader::from_str(html);
    reader.config_mut().check_end_names = true;
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().expect("report.html is well-formed") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let node = element(&e);
                stack.last_mut().expect("parent").children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().expect("open element");
                stack.last_mut().expect("parent").children.push(node);
            }
            Event::Text(t) => {
                let text = t.decode().expect("utf8").into_owned();
                stack.last_mut().expect("parent").push_text(&text);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().expect("utf8").into_owned();
                let ch = match name.as_str() {
                    "amp" => "&".to_string(),
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    other => {
                        let code = other
                            .strip_prefix("#")
                            .and_then(|n| n.parse::<u32>().ok())
                            .and_then(char::from_u32)
                            .unwrap_or_else(|| panic!("unknown entity &{other};"));
                        code.to_string()
                    }
                };
                stack.last_mut().expect("parent").push_text(&ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "every element is closed");
    stack.pop().expect("document")
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Node {
    let mut attrs = BTreeMap::new();
    for a in e.attributes() {
        let a = a.expect("attribute");
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().expect("attribute value").into_owned();
        attrs.insert(key, value);
    }
    Node {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs,
        ..Node::default()
    }
}

fn with_timeline(mut report: Report) -> Report {
    if let Some(m) = report.checks[0].metrics.as_mut() {
        m.timeline = (0..6)
            .map(|s| WindowSummary {
                second: s,
                requests: 30,
                failures: u64::from(s == 3) * 2,
                p50: 800.0,
                p95: 5000.0 + s as f64 * 100.0,
                p99: 7000.0,
                in_flight: 0,
            })
            .collect();
    }
    report
}

#[test]
fn the_dom_holds_the_verdict_its_reasons_and_one_section_per_check() {
    let report = with_timeline(sample_report());
    let doc = parse(&render(&report, &RunEvidence::default()));
    let verdict = doc.all(&|n| n.attr("id") == Some("verdict"));
    assert_eq!(verdict.len(), 1);
    assert_eq!(verdict[0].attr("data-verdict"), Some("NO-GO"));
    let h1 = verdict[0].all(&|n| n.name == "h1");
    assert!(
        h1[0].inner_text().starts_with("NO-GO testbed-demo"),
        "{}",
        h1[0].inner_text()
    );
    let reasons = doc.all(&|n| n.attr("id") == Some("reasons"))[0].all(&|n| n.name == "li");
    let reasons: Vec<String> = reasons.iter().map(|n| n.inner_text()).collect();
    assert_eq!(reasons, report.reasons);

    let sections = doc.all(&|n| n.name == "section" && n.has_class("check"));
    let ids: Vec<(&str, &str)> = sections
        .iter()
        .map(|s| {
            (
                s.attr("data-check").unwrap_or(""),
                s.attr("data-status").unwrap_or(""),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = report
        .checks
        .iter()
        .map(|c| (c.id.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(ids, expected);
    // L1 shows its failed threshold with the measured value, and its failure cluster.
    let l1 = sections[0].inner_text();
    assert!(l1.contains("p(95) < 5000ms"), "{l1}");
    assert!(l1.contains("6120.4ms"), "{l1}");
    assert!(
        l1.contains("5xx POST create: 502 Bad Gateway | upstream"),
        "{l1}"
    );
    assert!(l1.contains("seconds 3 to 11"), "{l1}");
    assert!(
        l1.contains("1.11%"),
        "the cluster's share of attempts: {l1}"
    );
    // A blocked check shows its fix.
    assert!(sections[1].inner_text().contains("Fix:"));
}

#[test]
fn the_timeline_is_an_inline_svg_and_nothing_is_fetched_or_scripted() {
    let doc = parse(&render(
        &with_timeline(sample_report()),
        &RunEvidence::default(),
    ));
    let timeline = doc.all(&|n| n.attr("id") == Some("timeline"));
    let svgs = timeline[0].all(&|n| n.name == "svg");
    assert_eq!(svgs.len(), 1);
    assert_eq!(svgs[0].all(&|n| n.has_class("bar-ok")).len(), 6);
    assert_eq!(svgs[0].all(&|n| n.has_class("bar-failed")).len(), 1);
    assert!(!svgs[0].all(&|n| n.has_class("check-span")).is_empty());
    assert!(
        doc.all(&|n| n.name == "script"
            || n.name == "link"
            || n.name == "img"
            || n.name == "iframe")
            .is_empty()
    );
    for node in doc.all(&|_| true) {
        for (key, value) in &node.attrs {
            if key == "xmlns" {
                continue;
            }
            assert!(
                !value.contains("//") && key != "src" && !key.starts_with("on"),
                "<{} {key}={value:?}> could fetch or run something",
                node.name
            );
        }
    }
}

#[test]
fn without_windows_the_page_says_no_timeline_was_recorded() {
    let doc = parse(&render(&sample_report(), &RunEvidence::default()));
    let timeline = doc.all(&|n| n.attr("id") == Some("timeline"))[0];
    assert!(timeline.all(&|n| n.name == "svg").is_empty());
    assert!(timeline.inner_text().contains("No timeline recorded"));
}

#[test]
fn witness_operations_and_missing_evidence_are_shown() {
    let report = sample_report();
    let index = report.checks[0]
        .ledger
        .as_ref()
        .and_then(|l| l.examples.values().flatten().next())
        .and_then(|e| e.witnesses.first().copied())
        .expect("the fixture has a witness");
    let mut evidence = RunEvidence::default();
    evidence.witnesses.insert(
        index,
        WitnessOp {
            index,
            seconds: 2.5,
            process: "L1/vu-7".into(),
            kind: "info".into(),
            f: "submit".into(),
            value: r#"{"error":"connection reset"}"#.into(),
        },
    );
    evidence
        .problems
        .push("history.jsonl is damaged or truncated".into());
    let doc = parse(&render(&report, &evidence));
    let missing = doc.all(&|n| n.attr("id") == Some("missing"));
    assert_eq!(missing.len(), 1);
    assert!(
        missing[0]
            .inner_text()
            .contains("history.jsonl is damaged or truncated")
    );
    let witnesses = doc.all(&|n| n.has_class("witnesses"));
    let text: String = witnesses.iter().map(|w| w.inner_text()).collect();
    assert!(text.contains("L1/vu-7"), "{text}");
    assert!(text.contains("connection reset"), "{text}");
    assert!(
        text.contains("see history.jsonl"),
        "other witnesses point at the file: {text}"
    );
}

#[test]
fn captured_markup_cannot_become_markup() {
    let mut c = check("L1", Status::Fail);
    c.reason = "body was <script>alert(1)</script> & \"quoted\"".into();
    c.id = "L1\"><script>".into();
    let mut r = report_with(vec![], vec![c]);
    r.decide();
    let html = render(&r, &RunEvidence::default());
    let doc = parse(&html);
    assert!(doc.all(&|n| n.name == "script").is_empty(), "{html}");
    let section = doc.all(&|n| n.has_class("check"))[0];
    assert_eq!(section.attr("data-check"), Some("L1\"><script>"));
    assert!(
        section
            .inner_text()
            .contains("body was <script>alert(1)</script> & \"quoted\"")
    );
}

#[test]
fn fault_windows_are_shaded_and_their_proofs_listed() {
    use crate::report::fault::{FaultRecord, FaultSection, RecoverySummary};
    let mut report = with_timeline(sample_report());
    report.checks[0].fault = Some(FaultSection {
        // Two seconds after the run started (the fixture's run started at 03:04:05.000).
        started_at: "2026-01-02T03:04:07.000Z".into(),
        faults: vec![FaultRecord {
            action: "kill worker-0 with SIGKILL".into(),
            method: "process: SIGKILL, exit status signal 9".into(),
            identity_before: Some("boot-aaa".into()),
            identity_after: Some("boot-bbb".into()),
            injected_at: Some("2026-01-02T03:04:08.000Z".into()),
            injected_ms: Some(1000.0),
            recovered_ms: Some(2500.0),
            proven: true,
            proof: "identity changed and healthy again".into(),
            ..FaultRecord::default()
        }],
        recovery: RecoverySummary {
            probe: "GET api:/health".into(),
            recovery_ms: Some(1500.0),
            ..RecoverySummary::default()
        },
        ..FaultSection::default()
    });
    report.decide();
    let doc = parse(&render(&report, &RunEvidence::default()));
    let svg = doc.all(&|n| n.attr("id") == Some("timeline"))[0];
    let bands = svg.all(&|n| n.has_class("fault-window"));
    assert_eq!(bands.len(), 1);
    assert!(svg.inner_text().contains("L1: kill worker-0 with SIGKILL"));
    assert!(svg.inner_text().contains("L1 recovered"));
    let proofs = doc.all(&|n| n.attr("id") == Some("faults"));
    assert_eq!(proofs.len(), 1);
    let text = proofs[0].inner_text();
    for needle in [
        "boot-aaa",
        "boot-bbb",
        "2026-01-02T03:04:08.000Z",
        "proven",
        "2.5s",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // The fixture's cluster (seconds 3 to 11) overlaps the fault (seconds 3 to 4.5).
    let clusters = doc.all(&|n| n.has_class("clusters"))[0].inner_text();
    assert!(clusters.contains("yes"), "{clusters}");
}
