//! Tests of the checker over hand-written histories with a known class for every key.

use serde_json::json;

use crate::ledger::checker::{ALL_CLASSES, MAX_EXAMPLES, classify};
use crate::ledger::fixtures::{self, History};
use crate::ledger::record::{OpFn, OpType};
use shakedown_plan::model::{LedgerClass, Plan};

fn plan() -> Plan {
    fixtures::plan(fixtures::settle_config(1000, 10))
}

/// Witness indices noted while writing the history.
struct Known {
    lost: [u64; 3],
    dup: [u64; 2],
    resurrected: [u64; 2],
    unknown: [u64; 2],
}

/// One key of every kind, in test L1. The history ends before settle completes; the caller adds
/// the settle record.
fn every_kind() -> (History, Known) {
    let mut h = History::default();
    let ok = Some(OpType::Ok);
    h.submit(0, "ok", ok, Some(201), None);
    let lost_ack = h.submit(1, "lost", ok, Some(201), None);
    let dup_ack = h.submit(1, "dup", ok, Some(201), None);
    h.submit(1, "dup-result", ok, Some(201), None);
    h.submit(1, "stuck", ok, Some(201), None);
    h.submit(1, "failed", ok, Some(201), None);
    h.submit(
        1,
        "recovered",
        Some(OpType::Info),
        Some(503),
        Some("HTTP 503"),
    );
    h.submit(
        1,
        "recovered-stuck",
        Some(OpType::Info),
        None,
        Some("timed out"),
    );
    h.submit(
        1,
        "not-applied",
        Some(OpType::Info),
        Some(502),
        Some("HTTP 502"),
    );
    let res_ack = h.submit(
        1,
        "resurrected",
        Some(OpType::Fail),
        Some(409),
        Some("HTTP 409"),
    );
    h.submit(
        1,
        "rejected",
        Some(OpType::Fail),
        Some(422),
        Some("HTTP 422"),
    );
    let unknown_ack = h.submit(1, "unknown", ok, Some(201), None);
    h.submit(1, "never-completed", None, None, None);

    let lost_seen = h.read(2, OpFn::Read, "lost", &[("r-lost", "running", 0)]);
    h.read(2, OpFn::Read, "ok", &[("r-ok", "running", 0)]);
    h.read_error(3, OpFn::Read, "unknown", "connection refused");
    let unknown_err = h.read_error(4, OpFn::FinalRead, "unknown", "connection refused");
    h.read(5, OpFn::FinalRead, "ok", &[("r-ok", "completed", 1)]);
    let lost_final = h.read(5, OpFn::FinalRead, "lost", &[]);
    let dup_final = h.read(
        5,
        OpFn::FinalRead,
        "dup",
        &[("r-a", "completed", 1), ("r-b", "completed", 1)],
    );
    h.read(5, OpFn::FinalRead, "dup-result", &[("r-d", "completed", 2)]);
    h.read(5, OpFn::FinalRead, "stuck", &[("r-s", "queued", 0)]);
    h.read(5, OpFn::FinalRead, "failed", &[("r-f", "failed", 0)]);
    h.read(5, OpFn::FinalRead, "recovered", &[("r-r", "completed", 1)]);
    h.read(
        5,
        OpFn::FinalRead,
        "recovered-stuck",
        &[("r-rs", "running", 0)],
    );
    h.read(5, OpFn::FinalRead, "not-applied", &[]);
    let res_final = h.read(
        5,
        OpFn::FinalRead,
        "resurrected",
        &[("r-x", "completed", 1)],
    );
    h.read(5, OpFn::FinalRead, "rejected", &[]);
    let known = Known {
        lost: [lost_ack, lost_seen, lost_final],
        dup: [dup_ack, dup_final],
        resurrected: [res_ack, res_final],
        unknown: [unknown_ack, unknown_err],
    };
    (h, known)
}

fn counts(summary: &crate::ledger::summary::LedgerSummary) -> Vec<(LedgerClass, u64)> {
    summary
        .counts
        .iter()
        .map(|(c, n)| (*c, *n))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[test]
fn every_kind_of_key_is_classified_exactly() {
    let (mut h, known) = every_kind();
    h.settle(5, true);
    let summaries = classify(&h.records, &plan());
    assert_eq!(summaries.len(), 1);
    let s = &summaries["L1"];
    assert!(s.settled);
    assert_eq!(s.tracked, 13);
    assert_eq!(
        s.counts.len(),
        ALL_CLASSES.len(),
        "every class present, zeros included"
    );
    use LedgerClass::*;
    assert_eq!(
        counts(s),
        vec![
            (Ok, 2),
            (Lost, 1),
            (Duplicates, 2),
            (Stuck, 2),
            (Unknown, 2),
            (Failed, 1),
            (Recovered, 2),
            (NotApplied, 1),
            (Rejected, 1),
            (Resurrected, 1),
        ]
    );
    let keys = |class: LedgerClass| -> Vec<&str> {
        s.examples
            .get(&class)
            .map(|e| e.iter().map(|x| x.key.as_str()).collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(Lost), ["lost"]);
    assert_eq!(keys(Duplicates), ["dup", "dup-result"]);
    assert_eq!(keys(Stuck), ["stuck", "recovered-stuck"]);
    assert_eq!(keys(Failed), ["failed"]);
    assert_eq!(keys(Recovered), ["recovered", "recovered-stuck"]);
    assert_eq!(keys(NotApplied), ["not-applied"]);
    assert_eq!(keys(Rejected), ["rejected"]);
    assert_eq!(keys(Resurrected), ["resurrected"]);
    assert_eq!(keys(Unknown), ["unknown", "never-completed"]);
    assert!(keys(Ok).is_empty(), "no examples for ok");

    let lost = &s.examples[&Lost][0];
    assert_eq!(lost.witnesses, known.lost.to_vec());
    assert_eq!(
        lost.why,
        format!(
            "acknowledged with 201 at 2.0s (op {}); last seen at 2.0s with 1 job: r-lost running \
             (op {}); final read at 5.0s saw no job (op {})",
            known.lost[0], known.lost[1], known.lost[2]
        )
    );
    let dup = &s.examples[&Duplicates][0];
    assert_eq!(dup.witnesses, known.dup.to_vec());
    assert!(
        dup.why.contains("saw 2 jobs: r-a completed, r-b completed"),
        "{}",
        dup.why
    );
    assert!(
        s.examples[&Duplicates][1]
            .why
            .contains("r-d completed with 2 results")
    );
    let res = &s.examples[&Resurrected][0];
    assert_eq!(res.witnesses, known.resurrected.to_vec());
    assert!(
        res.why
            .starts_with("submit definitely failed (409: HTTP 409)"),
        "{}",
        res.why
    );
    let unknown = &s.examples[&Unknown][0];
    assert_eq!(unknown.witnesses, known.unknown.to_vec());
    assert!(
        unknown.why.contains("no final read succeeded"),
        "{}",
        unknown.why
    );
    assert!(
        unknown.why.contains("connection refused"),
        "{}",
        unknown.why
    );
    let recovered = &s.examples[&Recovered][1];
    assert!(
        recovered.why.contains("then judged stuck"),
        "{}",
        recovered.why
    );
    let never = &s.examples[&Unknown][1];
    assert!(
        never.why.contains("no completion recorded"),
        "{}",
        never.why
    );
}

#[test]
fn an_incomplete_settle_turns_not_applied_into_unknown() {
    let (mut h, _) = every_kind();
    h.settle(5, false);
    let s = &classify(&h.records, &plan())["L1"];
    assert!(!s.settled);
    assert_eq!(s.count(LedgerClass::NotApplied), 0);
    assert_eq!(s.count(LedgerClass::Unknown), 3);
    let why = &s.examples[&LedgerClass::Unknown][0].why;
    assert_eq!(s.examples[&LedgerClass::Unknown][0].key, "not-applied");
    assert!(why.contains("settle did not complete"), "{why}");
    // A history with no settle record at all is judged the same way.
    let (h, _) = every_kind();
    assert_eq!(
        classify(&h.records, &plan())["L1"].count(LedgerClass::Unknown),
        3
    );
}

#[test]
fn the_last_final_read_decides() {
    let mut h = History::default();
    h.submit(0, "k", Some(OpType::Ok), Some(201), None);
    h.read(1, OpFn::FinalRead, "k", &[]);
    h.read(2, OpFn::FinalRead, "k", &[("r", "completed", 1)]);
    h.settle(2, true);
    assert_eq!(
        classify(&h.records, &plan())["L1"].count(LedgerClass::Ok),
        1
    );
    // A poll that missed it does not make it lost; only the final read counts.
    let mut h = History::default();
    h.submit(0, "k", Some(OpType::Ok), Some(201), None);
    h.read(1, OpFn::Read, "k", &[]);
    h.read(2, OpFn::FinalRead, "k", &[("r", "completed", 1)]);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.count(LedgerClass::Ok), 1);
    assert_eq!(s.count(LedgerClass::Lost), 0);
}

#[test]
fn a_key_submitted_twice_is_judged_by_its_strongest_outcome() {
    let mut h = History::default();
    h.submit(0, "k", Some(OpType::Info), None, Some("reset"));
    h.submit(1, "k", Some(OpType::Ok), Some(201), None);
    h.read(2, OpFn::FinalRead, "k", &[]);
    h.settle(2, true);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.tracked, 1);
    assert_eq!(
        s.count(LedgerClass::Lost),
        1,
        "the second submit was acknowledged"
    );
    assert_eq!(s.count(LedgerClass::NotApplied), 0);
}

#[test]
fn tests_are_grouped_and_examples_capped() {
    let mut h = History::default();
    for i in 0..40 {
        h.submit(0, &format!("k{i}"), Some(OpType::Ok), Some(201), None);
        h.read(1, OpFn::FinalRead, &format!("k{i}"), &[]);
    }
    let invoke = json!({"scenario": fixtures::SCENARIO, "step": fixtures::STEP});
    h.push(0, OpType::Invoke, OpFn::Submit, "L2", "k0", invoke);
    h.push(
        0,
        OpType::Ok,
        OpFn::Submit,
        "L2",
        "k0",
        json!({"status": 201}),
    );
    h.push(
        1,
        OpType::Ok,
        OpFn::FinalRead,
        "L2",
        "k0",
        json!({"jobs": 1, "items": [{"state": "completed"}]}),
    );
    let summaries = classify(&h.records, &plan());
    assert_eq!(summaries["L1"].count(LedgerClass::Lost), 40);
    assert_eq!(
        summaries["L1"].examples[&LedgerClass::Lost].len(),
        MAX_EXAMPLES
    );
    assert_eq!(summaries["L1"].examples[&LedgerClass::Lost][0].key, "k0");
    assert_eq!(summaries["L2"].tracked, 1);
    assert_eq!(summaries["L2"].count(LedgerClass::Ok), 1);
    assert_eq!(summaries["L2"].count(LedgerClass::Lost), 0);
}

#[test]
fn a_key_whose_track_step_is_not_in_the_plan_is_unknown() {
    let mut h = History::default();
    h.push(
        0,
        OpType::Invoke,
        OpFn::Submit,
        "L1",
        "k",
        json!({"scenario": "gone", "step": 0}),
    );
    h.push(
        1,
        OpType::Ok,
        OpFn::Submit,
        "L1",
        "k",
        json!({"status": 201}),
    );
    h.push(
        2,
        OpType::Ok,
        OpFn::FinalRead,
        "L1",
        "k",
        json!({"jobs": 1, "items": [{"state": "completed"}]}),
    );
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.count(LedgerClass::Unknown), 1);
    assert_eq!(s.count(LedgerClass::Ok), 0);
    assert!(
        s.examples[&LedgerClass::Unknown][0]
            .why
            .contains("scenario `gone`")
    );
}

#[test]
fn every_class_is_listed_once() {
    let mut sorted = ALL_CLASSES.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ALL_CLASSES.len());
}
