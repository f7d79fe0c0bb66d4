//! Tests of the classes decided over every read of a key: state regression, conflicting
//! terminal states, slow, the stuck subtypes, the duplicate kinds and the histograms.

use std::time::Duration;

use serde_json_path::JsonPath;

use crate::ledger::checker::classify;
use crate::ledger::fixtures::{self, History};
use crate::ledger::record::{JobView, OpFn, OpType};
use crate::ledger::summary::{DuplicateKinds, LedgerSummary, ObjectiveSummary, StuckSubtypes};
use crate::metrics::thresholds::LedgerCounts;
use shakedown_plan::model::{LedgerClass, Plan};

fn plan() -> Plan {
    fixtures::plan(fixtures::settle_config(10_000, 200))
}

/// The fixture plan with every oracle: started = running, attempts, updated, max 3 attempts,
/// and an objective of one second.
fn oracle_plan() -> Plan {
    let mut plan = plan();
    fixtures::with_oracle(&mut plan, |o| {
        o.started = vec!["running".into()];
        o.attempts = Some(JsonPath::parse("$.attempts").unwrap());
        o.updated = Some(JsonPath::parse("$.updated_at").unwrap());
        o.max_attempts = Some(3);
        o.objective = Some(Duration::from_secs(1));
    });
    plan
}

fn job(id: &str, state: &str, attempts: u64, updated: &str) -> JobView {
    JobView {
        id: Some(id.into()),
        state: Some(state.into()),
        results: Some(u64::from(state == "completed")),
        attempts: Some(attempts),
        updated: Some(updated.into()),
        key: None,
    }
}

fn keys(s: &LedgerSummary, class: LedgerClass) -> Vec<&str> {
    s.examples
        .get(&class)
        .map(|e| e.iter().map(|x| x.key.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn terminal_then_non_terminal_is_a_state_regression_on_top_of_stuck() {
    let mut h = History::default();
    let ack = h.submit(0, "k", Some(OpType::Ok), Some(201), None);
    let terminal = h.read(2, OpFn::Read, "k", &[("r-1", "completed", 1)]);
    let again = h.read(3, OpFn::FinalRead, "k", &[("r-1", "running", 1)]);
    h.settle(3, true);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.count(LedgerClass::StateRegression), 1);
    assert_eq!(s.count(LedgerClass::Stuck), 1, "judged by the final read");
    let e = &s.examples[&LedgerClass::StateRegression][0];
    assert_eq!(e.witnesses, vec![ack, terminal, again]);
    assert!(
        e.why.contains(&format!(
            "job r-1 was seen terminal, completed at 2.0s (op {terminal}), then non-terminal \
             again, running at 3.0s (op {again})"
        )),
        "{}",
        e.why
    );
}

#[test]
fn a_key_that_stays_terminal_is_not_a_regression_nor_a_conflict() {
    let mut h = History::default();
    h.submit(0, "k", Some(OpType::Ok), Some(201), None);
    h.read(1, OpFn::Read, "k", &[("r-1", "running", 0)]);
    h.read(2, OpFn::Read, "k", &[("r-1", "completed", 1)]);
    h.read(3, OpFn::FinalRead, "k", &[("r-1", "completed", 1)]);
    h.settle(3, true);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.count(LedgerClass::Ok), 1);
    assert_eq!(s.count(LedgerClass::StateRegression), 0);
    assert_eq!(s.count(LedgerClass::ConflictingTerminal), 0);
    assert_eq!(s.count(LedgerClass::Slow), 0);
    assert_eq!(s.objective, None, "no objective, nothing judged against it");
}

#[test]
fn two_terminal_states_of_one_job_or_of_two_jobs_conflict() {
    let mut h = History::default();
    h.submit(0, "flip", Some(OpType::Ok), Some(201), None);
    h.submit(0, "split", Some(OpType::Ok), Some(201), None);
    let first = h.read(2, OpFn::Read, "flip", &[("r-1", "completed", 1)]);
    let second = h.read(3, OpFn::FinalRead, "flip", &[("r-1", "failed", 1)]);
    let both = h.read(
        3,
        OpFn::FinalRead,
        "split",
        &[("r-a", "completed", 1), ("r-b", "failed", 0)],
    );
    h.settle(3, true);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.count(LedgerClass::ConflictingTerminal), 2);
    assert_eq!(keys(s, LedgerClass::ConflictingTerminal), ["flip", "split"]);
    assert_eq!(s.count(LedgerClass::Failed), 1, "flip ended failed");
    assert_eq!(s.count(LedgerClass::Duplicates), 1, "split has two jobs");
    let flip = &s.examples[&LedgerClass::ConflictingTerminal][0];
    assert!(flip.witnesses.ends_with(&[first, second]), "{flip:?}");
    assert!(
        flip.why
            .contains("job r-1 was seen in two terminal states: completed"),
        "{}",
        flip.why
    );
    let split = &s.examples[&LedgerClass::ConflictingTerminal][1];
    assert!(split.witnesses.ends_with(&[both]), "{split:?}");
    assert!(
        split.why.contains("job r-a completed") && split.why.contains("job r-b failed"),
        "{}",
        split.why
    );
}

#[test]
fn slow_only_when_a_read_after_the_objective_still_saw_it_running() {
    let mut h = History::default();
    let plan = oracle_plan();
    let running = |t: &str| job("r", "running", 1, t);
    let done = job("r", "completed", 1, "t9");
    // slow: read at 1.5s (after the 1s objective) saw it running; terminal at 1.7s.
    let submit = h.submit_ms(0, "slow");
    h.read_views(500, OpFn::Read, "slow", &[running("t1")]);
    let before = h.read_views(1500, OpFn::Read, "slow", &[running("t2")]);
    let terminal = h.read_views(1700, OpFn::Read, "slow", std::slice::from_ref(&done));
    h.read_views(1800, OpFn::FinalRead, "slow", std::slice::from_ref(&done));
    // met: terminal at 0.5s.
    h.submit_ms(0, "met");
    h.read_views(500, OpFn::Read, "met", std::slice::from_ref(&done));
    h.read_views(1800, OpFn::FinalRead, "met", std::slice::from_ref(&done));
    // undetermined: first read only at 3s, already terminal.
    h.submit_ms(0, "late-read");
    h.read_views(
        3000,
        OpFn::FinalRead,
        "late-read",
        std::slice::from_ref(&done),
    );
    h.settle(3, true);
    let s = &classify(&h.records, &plan)["L1"];
    assert_eq!(s.count(LedgerClass::Slow), 1);
    assert_eq!(
        s.count(LedgerClass::Ok),
        3,
        "slow keys still did their work"
    );
    assert_eq!(
        s.objective,
        Some(ObjectiveSummary {
            met: 1,
            slow: 1,
            undetermined: 1
        })
    );
    assert_eq!(s.measure(LedgerClass::Slow), None, "undetermined keys");
    let e = &s.examples[&LedgerClass::Slow][0];
    assert_eq!(e.key, "slow");
    assert_eq!(e.witnesses, vec![submit - 1, before, terminal]);
    assert!(
        e.why
            .contains("it took between 1.50s and 1.70s (the time is bounded by the poll interval, 200ms), over the objective of 1.00s"),
        "{}",
        e.why
    );
    let t = s
        .time_to_terminal_ms
        .expect("three keys reached a terminal state");
    assert_eq!(t.count, 3);
    assert!((t.max - 3000.0).abs() < 5.0, "{t:?}");
    assert!((t.p50 - 1700.0).abs() < 5.0, "{t:?}");
}

#[test]
fn stuck_keys_get_the_subtype_their_reads_tell() {
    let mut h = History::default();
    for key in ["never", "orphan", "loop", "moving"] {
        h.submit_ms(0, key);
    }
    let queued = job("r", "queued", 0, "t0");
    h.read_views(1000, OpFn::Read, "never", std::slice::from_ref(&queued));
    h.read_views(2000, OpFn::FinalRead, "never", &[queued]);
    let held = job("r", "running", 1, "t1");
    h.read_views(1000, OpFn::Read, "orphan", std::slice::from_ref(&held));
    h.read_views(1500, OpFn::Read, "orphan", std::slice::from_ref(&held));
    h.read_views(2000, OpFn::FinalRead, "orphan", &[held]);
    h.read_views(1000, OpFn::Read, "loop", &[job("r", "running", 4, "t1")]);
    h.read_views(
        2000,
        OpFn::FinalRead,
        "loop",
        &[job("r", "running", 5, "t2")],
    );
    h.read_views(1000, OpFn::Read, "moving", &[job("r", "running", 1, "t1")]);
    h.read_views(
        2000,
        OpFn::FinalRead,
        "moving",
        &[job("r", "running", 1, "t2")],
    );
    h.settle(2, false);
    let s = &classify(&h.records, &oracle_plan())["L1"];
    assert_eq!(s.count(LedgerClass::Stuck), 4);
    assert_eq!(
        s.stuck_subtypes,
        StuckSubtypes {
            never_started: 1,
            orphaned: 1,
            retry_loop: 1,
            unspecified: 1
        }
    );
    let why: Vec<&str> = s.examples[&LedgerClass::Stuck]
        .iter()
        .map(|e| e.why.as_str())
        .collect();
    assert!(why[0].starts_with("stuck, never started"), "{}", why[0]);
    assert!(
        why[1]
            .starts_with("stuck, orphaned (running with the same attempts and progress since 1.0s"),
        "{}",
        why[1]
    );
    assert!(why[1].contains("over 3 reads"), "{}", why[1]);
    assert!(
        why[2].starts_with("stuck in a retry loop (5 attempts, above max_attempts = 3)"),
        "{}",
        why[2]
    );
    assert!(
        why[3].starts_with("stuck (running, and its last read saw it move"),
        "{}",
        why[3]
    );
    let a = s.attempts.expect("the track reads attempts");
    assert_eq!((a.count, a.max), (4, 5.0));
}

#[test]
fn without_an_oracle_a_stuck_key_is_unspecified() {
    let mut h = History::default();
    h.submit(0, "k", Some(OpType::Ok), Some(201), None);
    h.read(1, OpFn::Read, "k", &[("r", "running", 0)]);
    h.read(2, OpFn::FinalRead, "k", &[("r", "running", 0)]);
    h.settle(2, false);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.stuck_subtypes.unspecified, 1);
    assert_eq!(s.stuck_subtypes.orphaned, 0);
    assert!(
        s.examples[&LedgerClass::Stuck][0]
            .why
            .contains("has no `started`, `attempts` or `updated`"),
        "{}",
        s.examples[&LedgerClass::Stuck][0].why
    );
    assert_eq!(s.attempts, None, "no attempts path, no histogram");
}

#[test]
fn duplicates_are_split_into_duplicate_jobs_and_duplicate_effects() {
    let mut h = History::default();
    for key in ["two-jobs", "two-results", "both"] {
        h.submit(0, key, Some(OpType::Ok), Some(201), None);
    }
    h.read(
        1,
        OpFn::FinalRead,
        "two-jobs",
        &[("a", "completed", 1), ("b", "completed", 1)],
    );
    h.read(1, OpFn::FinalRead, "two-results", &[("a", "completed", 2)]);
    h.read(
        1,
        OpFn::FinalRead,
        "both",
        &[("a", "completed", 2), ("b", "completed", 1)],
    );
    h.settle(1, true);
    let s = &classify(&h.records, &plan())["L1"];
    assert_eq!(s.count(LedgerClass::Duplicates), 3);
    assert_eq!(s.duplicate_kinds, DuplicateKinds { job: 2, effect: 2 });
    let why: Vec<&str> = s.examples[&LedgerClass::Duplicates]
        .iter()
        .map(|e| e.why.as_str())
        .collect();
    assert!(why[0].starts_with("duplicate job: "), "{}", why[0]);
    assert!(why[1].starts_with("duplicate effect: "), "{}", why[1]);
    assert!(
        why[2].starts_with("duplicate job and duplicate effect: "),
        "{}",
        why[2]
    );
}

#[test]
fn the_live_checker_and_a_replay_of_its_file_agree() {
    // The same fold over the same records, once by plan and once by the spec saved as JSON.
    let mut h = History::default();
    h.submit(0, "k", Some(OpType::Ok), Some(201), None);
    h.read(1, OpFn::Read, "k", &[("r", "completed", 1)]);
    h.read(2, OpFn::FinalRead, "k", &[("r", "running", 1)]);
    h.settle(2, true);
    let plan = oracle_plan();
    let spec = crate::ledger::spec::LedgerSpec::from_plan(&plan);
    let saved: crate::ledger::spec::LedgerSpec = serde_json::from_str(&spec.to_json()).unwrap();
    assert_eq!(
        classify(&h.records, &plan),
        crate::ledger::checker::classify_with(&h.records, saved)
    );
}
