//! The ledger on services shaped unlike the testbed's default: a run API readable only by id,
//! submits that commit and then answer 500, one job handed to two keys, and a job that leaves
//! its terminal state for half a second. Each gate must not say GO, and must say why, live and
//! in `shakedown check` alike; the clean twin of each stays GO.

use serde_json::Value;

use crate::check::{PASSWORD, assert_same_as_live, run_against};
use crate::run::report_json;
use crate::support::stack::{Stack, StackOptions};

/// `examples/by-id.toml`: a plan against the runs API readable only by id, whose read needs the
/// id the submit answered with. With `replay` false its track resolves by its read alone.
fn by_id_plan(replay: bool) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/by-id.toml");
    let text = std::fs::read_to_string(path).expect("examples/by-id.toml");
    assert!(text.contains(", resolve = \"replay\""));
    if replay {
        text
    } else {
        text.replace(", resolve = \"replay\"", "")
    }
}

fn stack(defects: &[&str], runs_api: &str) -> Stack {
    Stack::start(
        StackOptions::new()
            .workers(2)
            .step_ms(20)
            .defects(defects)
            .env("TESTBED_RUNS_API", runs_api)
            .env("TESTBED_PASSWORD", PASSWORD),
    )
}

fn l1(report: &Value) -> &Value {
    &report["checks"][0]
}

fn examples<'a>(ledger: &'a Value, class: &str) -> Vec<&'a str> {
    ledger["examples"][class]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["why"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn the_clean_by_id_service_is_go() {
    let stack = stack(&[], "by-id");
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = run_against(&stack, dir.path(), &by_id_plan(true));
    assert_eq!(out.code, 0, "GO:\n{}\n{}", out.stdout, out.stderr);
    let report = report_json(&run);
    let ledger = &l1(&report)["ledger"];
    assert_eq!(ledger["counts"]["ok"], 8, "{ledger}");
    assert_same_as_live(&run);
}

#[test]
fn a_submit_that_commits_then_answers_500_is_never_called_not_applied_by_a_read_that_cannot_find_it()
 {
    let stack = stack(&["commit-then-500"], "by-id");
    let dir = tempfile::tempdir().unwrap();
    // The plan tolerates the 500s (so the default `count(failures) == 0` does not apply): what
    // holds the verdict back is the ledger alone.
    let plan = by_id_plan(false).replace(
        "thresholds = [\"lost == 0\"",
        "thresholds = [\"rate(failures) <= 0.5\", \"lost == 0\"",
    );
    assert!(plan.contains("rate(failures) <= 0.5"));
    let (out, run) = run_against(&stack, dir.path(), &plan);
    assert_eq!(
        out.code, 3,
        "INCOMPLETE, not GO:\n{}\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&run);
    let check = l1(&report);
    assert_eq!(check["status"], "INCONCLUSIVE", "{check}");
    let ledger = &check["ledger"];
    assert_eq!(
        ledger["counts"]["unknown"], 2,
        "runs #2 and #6 answered 500: {ledger}"
    );
    assert_eq!(ledger["counts"]["not_applied"], 0, "{ledger}");
    for why in examples(ledger, "unknown") {
        assert!(
            why.contains("`job_id` was not captured because step `create` failed: status 500")
                && why.contains("resolve = \"replay\""),
            "{why}"
        );
    }
    // No read was sent with the template unrendered.
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(!history.contains("%7B%7B"), "an unrendered read was sent");
    assert!(!history.contains("{{"), "an unrendered read was recorded");
    let offline = assert_same_as_live(&run);
    assert_eq!(offline["exit_code"], 3);
}

#[test]
fn a_replay_with_the_same_key_recovers_the_committed_run_and_finds_it_stuck() {
    let stack = stack(&["commit-then-500"], "by-id");
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = run_against(&stack, dir.path(), &by_id_plan(true));
    assert_eq!(out.code, 1, "NO-GO:\n{}\n{}", out.stdout, out.stderr);
    let report = report_json(&run);
    let check = l1(&report);
    assert_eq!(check["status"], "FAIL", "{check}");
    assert!(
        check["reason"].as_str().unwrap().contains("stuck == 0"),
        "{check}"
    );
    let ledger = &check["ledger"];
    assert_eq!(ledger["counts"]["recovered"], 2, "{ledger}");
    assert_eq!(ledger["counts"]["stuck"], 2, "{ledger}");
    assert_eq!(ledger["counts"]["unknown"], 0, "{ledger}");
    for why in examples(ledger, "recovered") {
        assert!(
            why.contains("its replay at") && why.contains("answered 200"),
            "{why}"
        );
    }
    let offline = assert_same_as_live(&run);
    assert_eq!(offline["exit_code"], 1);
}

#[test]
fn one_run_handed_to_two_keys_is_a_collision() {
    let stack = stack(&["shared-id"], "by-id");
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = run_against(&stack, dir.path(), &by_id_plan(true));
    assert_eq!(out.code, 1, "NO-GO:\n{}\n{}", out.stdout, out.stderr);
    let report = report_json(&run);
    let check = l1(&report);
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("collision =="), "{reason}");
    let ledger = &check["ledger"];
    // Keys #3 and #8 got the run of keys #2 and #7: four keys share two runs.
    assert_eq!(ledger["counts"]["collision"], 4, "{ledger}");
    assert_eq!(
        ledger["counts"]["ok"], 8,
        "each key alone reads back done: {ledger}"
    );
    let offline = assert_same_as_live(&run);
    assert_eq!(offline["exit_code"], 1);
}

#[test]
fn a_brief_return_from_completed_is_seen_by_the_reads_during_the_run() {
    let stack = stack(&["brief-regression"], "by-key");
    let dir = tempfile::tempdir().unwrap();
    let plan = by_id_plan(false)
        .replace(
            "GET api:/api/v1/runs/{{ job_id }}",
            "GET api:/api/v1/runs?key={{ key }}",
        )
        .replace("items = \"$\"", "items = \"$.runs[*]\"");
    let (out, run) = run_against(&stack, dir.path(), &plan);
    assert_eq!(out.code, 1, "NO-GO:\n{}\n{}", out.stdout, out.stderr);
    let report = report_json(&run);
    let check = l1(&report);
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("state_regression =="), "{reason}");
    let offline = assert_same_as_live(&run);
    assert_eq!(offline["exit_code"], 1);
}
