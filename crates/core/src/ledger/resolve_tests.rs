//! Tests of how an indeterminate submit is resolved (a read that could find it, a replay, or
//! nothing: `unknown`), and of the one-to-one mapping of keys to jobs (`collision`).

use serde_json::json;

use crate::ledger::checker::classify;
use crate::ledger::fixtures::{self, History};
use crate::ledger::record::{JobView, OpFn, OpType};
use crate::ledger::summary::LedgerSummary;
use shakedown_plan::model::LedgerClass;

fn judge(history: &History) -> LedgerSummary {
    let plan = fixtures::plan(fixtures::settle_config(1000, 10));
    classify(&history.records, &plan)
        .remove("L1")
        .expect("test L1 has keys")
}

fn why(summary: &LedgerSummary, class: LedgerClass) -> String {
    summary
        .examples
        .get(&class)
        .and_then(|e| e.first())
        .map(|e| e.why.clone())
        .unwrap_or_default()
}

/// An indeterminate submit (500) whose read could not be rendered: its completion says why.
fn unreadable_submit(h: &mut History, secs: u64, key: &str) {
    let invoke = json!({"method": "POST", "url": "http://127.0.0.1:1/runs",
                        "scenario": fixtures::SCENARIO, "step": fixtures::STEP});
    h.push(secs, OpType::Invoke, OpFn::Submit, "L1", key, invoke);
    h.push(
        secs + 1,
        OpType::Info,
        OpFn::Submit,
        "L1",
        key,
        json!({"status": 500, "error": "status 500",
               "unresolved": "the track read's path cannot be rendered: `job_id` was not captured because step `create` failed: status 500"}),
    );
}

fn replay(h: &mut History, secs: u64, key: &str, kind: OpType, status: u16, created: bool) {
    h.push(secs, OpType::Invoke, OpFn::Replay, "L1", key, json!({}));
    let error = (kind != OpType::Ok).then(|| format!("the replay answered {status}"));
    h.push(
        secs,
        kind,
        OpFn::Replay,
        "L1",
        key,
        json!({"status": status, "created": created, "error": error}),
    );
}

#[test]
fn an_indeterminate_submit_that_no_read_could_find_is_unknown_never_not_applied() {
    let mut h = History::default();
    unreadable_submit(&mut h, 0, "k-1");
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Unknown), 1);
    assert_eq!(s.count(LedgerClass::NotApplied), 0);
    let text = why(&s, LedgerClass::Unknown);
    assert!(
        text.contains("`job_id` was not captured because step `create` failed: status 500")
            && text.contains("resolve = \"replay\""),
        "{text}"
    );
}

#[test]
fn an_indeterminate_submit_whose_read_could_find_it_and_did_not_is_not_applied() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Info), Some(500), Some("status 500"));
    h.read(4, OpFn::FinalRead, "k-1", &[]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::NotApplied), 1);
    assert_eq!(s.count(LedgerClass::Unknown), 0);
}

#[test]
fn a_read_by_key_that_finds_an_indeterminate_submit_recovers_it_and_judges_it() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Info), Some(500), Some("status 500"));
    h.read(4, OpFn::FinalRead, "k-1", &[("r-1", "queued", 0)]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Recovered), 1);
    assert_eq!(
        s.count(LedgerClass::Stuck),
        1,
        "recovered, then judged stuck"
    );
}

#[test]
fn a_replay_that_finds_the_job_recovers_it_and_judges_it_like_an_acknowledged_one() {
    let mut h = History::default();
    unreadable_submit(&mut h, 0, "k-1");
    replay(&mut h, 3, "k-1", OpType::Ok, 200, false);
    h.read(4, OpFn::FinalRead, "k-1", &[("r-1", "queued", 0)]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Recovered), 1);
    assert_eq!(s.count(LedgerClass::Stuck), 1);
    assert_eq!(s.count(LedgerClass::Unknown), 0);
    let text = why(&s, LedgerClass::Recovered);
    assert!(
        text.contains("replay") && text.contains("answered 200") && text.contains("found it"),
        "{text}"
    );
}

#[test]
fn a_replay_that_created_the_job_is_its_own_class() {
    let mut h = History::default();
    unreadable_submit(&mut h, 0, "k-1");
    replay(&mut h, 3, "k-1", OpType::Ok, 201, true);
    h.read(4, OpFn::FinalRead, "k-1", &[("r-1", "completed", 1)]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::ReplayCreated), 1);
    assert_eq!(s.count(LedgerClass::Recovered), 0);
    assert_eq!(
        s.count(LedgerClass::Ok),
        1,
        "then judged like an acknowledged key"
    );
}

#[test]
fn an_acknowledged_replay_whose_job_is_absent_is_lost() {
    let mut h = History::default();
    unreadable_submit(&mut h, 0, "k-1");
    replay(&mut h, 3, "k-1", OpType::Ok, 200, false);
    h.read(4, OpFn::FinalRead, "k-1", &[]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Lost), 1);
}

#[test]
fn a_replay_that_resolved_nothing_leaves_the_key_unknown() {
    let mut h = History::default();
    unreadable_submit(&mut h, 0, "k-1");
    replay(&mut h, 3, "k-1", OpType::Info, 503, false);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Unknown), 1);
    let text = why(&s, LedgerClass::Unknown);
    assert!(
        text.contains("the replay") && text.contains("answered 503"),
        "{text}"
    );
}

#[test]
fn failed_and_hanging_reads_never_resolve_a_key() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Info), Some(502), Some("status 502"));
    h.read_error(3, OpFn::Read, "k-1", "HTTP 500");
    h.read_error(4, OpFn::FinalRead, "k-1", "the settle deadline passed");
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Unknown), 1);
    assert_eq!(s.count(LedgerClass::NotApplied), 0);
}

#[test]
fn one_job_under_two_keys_is_a_collision_for_both_with_both_reads() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Ok), Some(201), None);
    h.submit(0, "k-2", Some(OpType::Ok), Some(201), None);
    h.submit(0, "k-3", Some(OpType::Ok), Some(201), None);
    let first = h.read(4, OpFn::FinalRead, "k-1", &[("r-1", "completed", 1)]);
    let second = h.read(4, OpFn::FinalRead, "k-2", &[("r-1", "completed", 1)]);
    h.read(4, OpFn::FinalRead, "k-3", &[("r-3", "completed", 1)]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Collision), 2);
    assert_eq!(
        s.count(LedgerClass::Ok),
        3,
        "each key alone reads back done"
    );
    let example = &s.examples[&LedgerClass::Collision][0];
    assert!(
        example.witnesses.contains(&first) && example.witnesses.contains(&second),
        "{example:?}"
    );
    assert!(example.why.contains("job r-1"), "{}", example.why);
}

#[test]
fn a_job_whose_own_key_is_another_is_a_collision() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Ok), Some(201), None);
    let view = JobView {
        id: Some("r-9".into()),
        state: Some("completed".into()),
        key: Some("k-0".into()),
        ..JobView::default()
    };
    h.read_views(4000, OpFn::FinalRead, "k-1", &[view]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Collision), 1);
    let text = why(&s, LedgerClass::Collision);
    assert!(text.contains("says its key is k-0"), "{text}");
}

#[test]
fn two_reads_that_see_two_different_jobs_for_one_key_are_duplicates() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Ok), Some(201), None);
    h.read(2, OpFn::Read, "k-1", &[("r-1", "running", 0)]);
    h.read(4, OpFn::FinalRead, "k-1", &[("r-2", "completed", 1)]);
    h.settle(5, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Duplicates), 1);
    let text = why(&s, LedgerClass::Duplicates);
    assert!(text.contains("r-1") && text.contains("r-2"), "{text}");
}

#[test]
fn one_key_sent_by_two_tests_is_not_a_collision() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Ok), Some(201), None);
    let invoke = json!({"method": "POST", "url": "u", "scenario": fixtures::SCENARIO,
                        "step": fixtures::STEP});
    h.push(1, OpType::Invoke, OpFn::Submit, "L2", "k-1", invoke);
    h.push(
        2,
        OpType::Ok,
        OpFn::Submit,
        "L2",
        "k-1",
        json!({"status": 200}),
    );
    h.read(4, OpFn::FinalRead, "k-1", &[("r-1", "completed", 1)]);
    h.push(5, OpType::Invoke, OpFn::FinalRead, "L2", "k-1", json!({}));
    h.push(
        5,
        OpType::Ok,
        OpFn::FinalRead,
        "L2",
        "k-1",
        json!({"status": 200, "jobs": 1, "items": [{"id": "r-1", "state": "completed"}]}),
    );
    h.settle(6, true);
    let s = judge(&h);
    assert_eq!(s.count(LedgerClass::Collision), 0);
}

#[test]
fn time_to_terminal_carries_how_precisely_the_reads_knew_it() {
    let mut h = History::default();
    h.submit(0, "k-1", Some(OpType::Ok), Some(201), None);
    h.read(2, OpFn::Read, "k-1", &[("r-1", "running", 0)]);
    h.read(4, OpFn::Read, "k-1", &[("r-1", "completed", 1)]);
    h.read(6, OpFn::FinalRead, "k-1", &[("r-1", "completed", 1)]);
    h.settle(7, true);
    let s = judge(&h);
    // The histograms keep three significant digits.
    let near = |d: Option<&crate::ledger::summary::Distribution>, ms: f64| {
        d.is_some_and(|d| (d.max - ms).abs() <= ms * 0.001)
    };
    assert!(near(s.time_to_terminal_ms.as_ref(), 4000.0), "{s:?}");
    assert!(
        near(s.terminal_within_ms.as_ref(), 2000.0),
        "the read at 2s saw it running, the one at 4s done: {s:?}"
    );
    assert_eq!(s.last_terminal_ns, Some(4_000_000_000));
}

#[test]
fn a_read_answer_decides_only_by_a_no_job_status_or_a_json_body() {
    use crate::ledger::observe::{read_done, track_at};
    let plan = fixtures::plan(fixtures::settle_config(1000, 10));
    let track = track_at(&plan, fixtures::SCENARIO, fixtures::STEP).unwrap();
    let body = json!({"runs": [{"id": "r-1", "status": "completed"}]});
    assert_eq!(read_done(track, 404, Ok(json!(null))).unwrap().jobs, 0);
    assert_eq!(read_done(track, 200, Ok(body.clone())).unwrap().jobs, 1);
    let failed = read_done(track, 503, Ok(body)).unwrap_err();
    assert_eq!(failed.error.as_deref(), Some("HTTP 503"));
    let garbage = read_done(track, 200, Err("response is not JSON".into())).unwrap_err();
    assert_eq!(garbage.status, Some(200));
}
