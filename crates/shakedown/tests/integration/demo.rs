//! `shakedown demo` end to end: the bundled testbed, the embedded plan, the verdict, the exit
//! code and the report, clean and with the defects that L1 and L2 exist to catch.

use std::time::Duration;

use crate::run::{Outcome, assert_schema_valid, check, finish, report_json, shakedown};

fn demo(out: &std::path::Path, defects: &[&str]) -> Outcome {
    let mut command = shakedown();
    command
        .arg("demo")
        .arg("--out")
        .arg(out)
        .arg("--no-progress");
    for defect in defects {
        command.args(["--defect", defect]);
    }
    // A bound against hangs: with `slow-under-load` a debug build takes about five minutes
    // (every request waits 400ms per other request in flight, the ledger's reads included).
    finish(command, Duration::from_secs(600))
}

#[test]
fn clean_demo_is_go_with_l1_l2_l3_measured() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = demo(&run, &[]);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("verdict: GO"), "{}", out.stdout);
    let report = report_json(&run);
    assert_schema_valid(&report);
    assert_eq!(report["verdict"], "GO");
    for id in ["L1", "L2", "L3"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "PASS", "{id}: {c}");
        assert!(
            c["metrics"]["requests"].as_u64().unwrap() > 0,
            "{id} sent requests"
        );
        assert!(c["metrics"]["latency_ms"]["p95"].as_f64().unwrap() > 0.0);
        for t in c["thresholds"].as_array().unwrap() {
            assert_eq!(t["passed"], true, "{id}: {t}");
            assert!(t["measured"].is_number(), "{id}: {t} was measured");
        }
    }
    // L1: 20 concurrent x 3 rounds of login + create + fetch, every run tracked and settled.
    let l1 = check(&report, "L1");
    assert_eq!(l1["metrics"]["iterations"], 60);
    assert_eq!(l1["ledger"]["tracked"], 60);
    assert_eq!(l1["ledger"]["counts"]["ok"], 60);
    // L2: the queue depth was really sampled.
    let l2 = check(&report, "L2");
    assert!(
        l2["metrics"]["gauges"]["queue_depth"]["samples"]
            .as_u64()
            .unwrap()
            > 0
    );
    // C1-C3: real faults, each proven by an identity that changed (or, for the database outage,
    // by readiness reporting it), with the time to recover.
    for id in ["C1", "C2", "C3"] {
        let c = check(&report, id);
        assert_eq!(c["kind"], "fault", "{id}");
        assert_eq!(c["status"], "PASS", "{id}: {c}");
        let fault = &c["fault"];
        assert!(
            fault["recovery"]["recovery_ms"].as_f64().is_some(),
            "{id}: {fault}"
        );
        for f in fault["faults"].as_array().unwrap() {
            assert_eq!(f["proven"], true, "{id}: {f}");
            assert!(f["injected_at"].is_string(), "{id}: {f}");
        }
    }
    let c1 = &check(&report, "C1")["fault"]["faults"];
    assert!(
        c1[0]["method"].as_str().unwrap().contains("signal 9"),
        "{c1}"
    );
    assert_ne!(c1[1]["identity_before"], c1[1]["identity_after"]);
    assert!(c1[1]["identity_after"].is_string());
    let c2 = &check(&report, "C2")["fault"]["faults"][0];
    assert_ne!(c2["identity_before"], c2["identity_after"], "{c2}");
    let c3 = &check(&report, "C3")["fault"];
    assert!(
        c3["recovery"]["first_failure_ms"].is_number(),
        "readiness saw the outage: {c3}"
    );
    // GOLDEN: 100 agent conversations, each with its five events and its answer in order, once
    // each. L3 and C2: every SSE stream judged by the stream check, each resumed at least once
    // (L3 on purpose, C2 by the API restart) with nothing missing or repeated.
    let golden = check(&report, "GOLDEN");
    assert_eq!(golden["status"], "PASS", "{golden}");
    assert_eq!(golden["metrics"]["streams"][0]["completed"], 100);
    for (id, streams) in [("L3", 10), ("C2", 5)] {
        let s = &check(&report, id)["streams"];
        assert_eq!(s["streams"], streams, "{id}: {s}");
        assert_eq!(s["completed"], streams, "{id}: {s}");
        assert!(s["reconnects"].as_u64().unwrap() >= 1, "{id}: {s}");
        for (rule, n) in s["violations"].as_object().unwrap() {
            assert_eq!(n, 0, "{id}: {rule}");
        }
    }
    let journal = std::fs::read_to_string(run.join("faults.jsonl")).unwrap();
    assert!(
        journal
            .trim_end()
            .ends_with(r#""event":"closed","by":"shakedown"}"#),
        "{journal}"
    );
    let markdown = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        markdown.contains("identity before"),
        "the fault-proof table is in report.md"
    );
    for file in ["report.md", "junit.xml", "history.jsonl", "plan.toml"] {
        assert!(run.join(file).is_file(), "{file} is in the run directory");
    }
}

#[test]
fn slow_under_load_is_no_go_on_the_latency_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = demo(&run, &["slow-under-load"]);
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&run);
    assert_eq!(report["verdict"], "NO-GO");
    let l1 = check(&report, "L1");
    assert_eq!(l1["status"], "FAIL");
    let p95 = l1["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["expression"] == "p(95) < 5000ms")
        .expect("the p95 threshold");
    assert_eq!(p95["passed"], false);
    assert!(p95["measured"].as_f64().unwrap() >= 5000.0, "{p95}");
    assert!(l1["reason"].as_str().unwrap().contains("p(95) < 5000ms"));
}

#[test]
fn ops_key_mismatch_blocks_l2_at_preflight_and_names_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = demo(&run, &["ops-key-mismatch"]);
    assert_eq!(
        out.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&run);
    assert_eq!(report["verdict"], "INCOMPLETE");
    let l2 = check(&report, "L2");
    assert_eq!(l2["status"], "BLOCKED");
    assert!(l2["metrics"].is_null(), "L2 sent no load");
    let text = format!("{} {}", l2["reason"], l2["hint"]);
    assert!(text.contains("401"), "{text}");
    assert!(
        text.contains("ops_key") && text.contains("TESTBED_OPS_KEY"),
        "{text}"
    );
    assert_eq!(check(&report, "L1")["status"], "PASS");
    assert_eq!(check(&report, "L3")["status"], "PASS");
    // C3 calls the ops chaos endpoint with the same key: BLOCKED, neither FAIL nor PASS.
    let c3 = check(&report, "C3");
    assert_eq!(c3["status"], "BLOCKED", "{c3}");
    assert!(c3["metrics"].is_null(), "C3 sent no load");
}
