//! `shakedown check RUN_DIR`: the checker again, offline, on a saved history, with no
//! environment and no secrets. A hand-written history with a known key of every class is
//! classified exactly (through the real binary), its Jepsen export is re-judged by an
//! independent mini-checker in this file, a truncated history is checked up to its last complete
//! line, a directory that cannot be checked exits 2 naming the file, and runs against the
//! testbed (`duplicate-results`; `stuck-on-restart` with a worker killed) give the same
//! classification offline as in their live report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::run::{Outcome, assert_schema_valid, finish, report_json, shakedown, write_plan};
use crate::support::stack::{Stack, StackOptions};

pub(crate) const PASSWORD: &str = "pw-check-test";

/// The checked-in, hand-written run directory.
fn known() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/histories/known")
}

/// `shakedown check DIR [extra]` with an empty environment.
fn check(dir: &Path, extra: &[&str]) -> Outcome {
    let mut command = shakedown();
    command.env_clear().arg("check").arg(dir).args(extra);
    finish(command, Duration::from_secs(30))
}

fn check_json(dir: &Path) -> (i32, Value, String) {
    let out = check(dir, &["--json"]);
    let value: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json prints JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    });
    (out.code, value, out.stderr)
}

fn counts(summary: &Value) -> BTreeMap<String, u64> {
    summary["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect()
}

fn example_keys(summary: &Value, class: &str) -> Vec<String> {
    summary["examples"][class]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| x["key"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Copy the hand-written directory, keeping the lines `keep` accepts.
fn copy_known(to: &Path, keep: impl Fn(&Value) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(
        known().join("ledger-spec.json"),
        to.join("ledger-spec.json"),
    )
    .unwrap();
    let text = std::fs::read_to_string(known().join("history.jsonl")).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| keep(&serde_json::from_str(l).unwrap()))
        .collect();
    std::fs::write(to.join("history.jsonl"), kept.join("\n") + "\n").unwrap();
}

#[test]
fn a_hand_written_history_is_classified_exactly() {
    let (code, out, stderr) = check_json(&known());
    assert_eq!(code, 1, "work was lost and duplicated: {out}\n{stderr}");
    assert_eq!(out["outcome"], "violations");
    assert_eq!(out["records"], 78);
    let l1 = &out["tests"]["L1"];
    assert_eq!(l1["tracked"], 11);
    assert_eq!(l1["settled"], true);
    let expected: BTreeMap<String, u64> = [
        ("ok", 3),
        ("lost", 1),
        ("duplicates", 2),
        ("stuck", 1),
        ("failed", 1),
        ("recovered", 1),
        ("not_applied", 1),
        ("rejected", 1),
        ("resurrected", 1),
        ("state_regression", 1),
        ("conflicting_terminal", 1),
        ("slow", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(counts(l1), expected, "{l1}");
    for (class, keys) in [
        ("lost", vec!["lost-1"]),
        ("duplicates", vec!["dup-1", "dup-2"]),
        ("stuck", vec!["regress-1"]),
        ("failed", vec!["conflict-1"]),
        ("recovered", vec!["recovered-1"]),
        ("not_applied", vec!["not-applied-1"]),
        ("rejected", vec!["rejected-1"]),
        ("resurrected", vec!["resurrected-1"]),
        ("state_regression", vec!["regress-1"]),
        ("conflicting_terminal", vec!["conflict-1"]),
        ("slow", vec!["slow-1"]),
    ] {
        assert_eq!(example_keys(l1, class), keys, "{class}: {l1}");
    }
    // The lost key's witnesses: its acknowledgement, the last read that saw it, the final
    // read that missed it (indices in the file).
    assert_eq!(
        l1["examples"]["lost"][0]["witnesses"],
        serde_json::json!([5, 48, 58])
    );
    assert_eq!(
        l1["duplicate_kinds"],
        serde_json::json!({"job": 1, "effect": 1})
    );
    assert_eq!(
        l1["stuck_subtypes"],
        serde_json::json!({"never_started": 0, "orphaned": 0, "retry_loop": 0, "unspecified": 1})
    );
    assert_eq!(
        l1["objective"],
        serde_json::json!({"met": 6, "slow": 1, "undetermined": 0})
    );
    assert_eq!(l1["time_to_terminal_ms"]["count"], 7);
    assert_eq!(l1["attempts"]["count"], 9);
    assert_eq!(l1["attempts"]["max"], 2.0);
    let slow = l1["examples"]["slow"][0]["why"].as_str().unwrap();
    assert!(
        slow.contains("bounded by the poll interval, 200ms"),
        "{slow}"
    );

    let human = check(&known(), &[]);
    assert_eq!(human.code, 1);
    for text in [
        "L1: 11 keys tracked; settle completed",
        "lost 1",
        "state_regression 1",
        "duplicates by kind: job 1, effect 1",
        "lost lost-1: acknowledged with 201",
        "VIOLATIONS",
    ] {
        assert!(human.stdout.contains(text), "{text} in:\n{}", human.stdout);
    }
}

/// Operations of one Jepsen export, by key: (f, type, value[1]).
type ByKey = BTreeMap<String, Vec<(String, String, Value)>>;

/// An independent reading of the Jepsen export: lost, duplicated, recovered and resurrected
/// keys, from the `add` outcomes and the last `final-read` of each key.
fn independent_classes(ops: &[Value]) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut by_key = ByKey::new();
    for op in ops {
        if let Some(key) = op["value"][0].as_str() {
            by_key.entry(key.to_string()).or_default().push((
                op["f"].as_str().unwrap_or_default().to_string(),
                op["type"].as_str().unwrap_or_default().to_string(),
                op["value"][1].clone(),
            ));
        }
    }
    let mut classes: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (key, ops) in by_key {
        let added = ops
            .iter()
            .filter(|(f, t, _)| f == "add" && t != "invoke")
            .map(|(_, t, _)| t.as_str())
            .next_back()
            .unwrap_or("info");
        let Some((_, _, jobs)) = ops.iter().rfind(|(f, t, _)| f == "final-read" && t == "ok")
        else {
            continue;
        };
        let jobs = jobs.as_array().cloned().unwrap_or_default();
        let duplicated =
            jobs.len() > 1 || jobs.iter().any(|j| j["results"].as_u64().unwrap_or(0) > 1);
        let class = match (added, jobs.is_empty()) {
            ("ok", true) => Some("lost"),
            ("fail", false) => Some("resurrected"),
            ("info", false) => Some("recovered"),
            _ => None,
        };
        if let Some(class) = class {
            classes.entry(class).or_default().insert(key.clone());
        }
        if added != "fail" && duplicated {
            classes.entry("duplicates").or_default().insert(key);
        }
    }
    classes
}

#[test]
fn the_jepsen_export_is_well_formed_and_an_independent_reading_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jepsen.json");
    let out = check(&known(), &["--json", "--jepsen", file.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let ops: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(ops.len(), 78);
    let mut in_flight: BTreeMap<u64, String> = BTreeMap::new();
    let mut crashed: BTreeSet<u64> = BTreeSet::new();
    let mut last_time = 0;
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op["index"], i as u64, "{op}");
        let time = op["time"].as_u64().expect("time in ns");
        assert!(time >= last_time, "time goes forward: {op}");
        last_time = time;
        let process = op["process"].as_u64().expect("an integer process");
        assert!(
            !crashed.contains(&process),
            "a crashed process is reused: {op}"
        );
        let kind = op["type"].as_str().unwrap();
        let f = op["f"].as_str().unwrap().to_string();
        assert!(
            ["add", "read", "final-read", "settle"].contains(&f.as_str()),
            "{op}"
        );
        if kind == "invoke" {
            assert!(
                in_flight.insert(process, f).is_none(),
                "process {process} has two operations in flight: {op}"
            );
        } else {
            assert!(["ok", "fail", "info"].contains(&kind), "{op}");
            assert_eq!(in_flight.remove(&process), Some(f), "completion of {op}");
            if kind == "info" {
                crashed.insert(process);
            }
        }
    }
    assert!(
        in_flight.is_empty(),
        "every invoke completed: {in_flight:?}"
    );

    let ours: Value = serde_json::from_str(&out.stdout).unwrap();
    let l1 = &ours["tests"]["L1"];
    let theirs = independent_classes(&ops);
    for class in ["lost", "duplicates", "recovered", "resurrected"] {
        let ours: BTreeSet<String> = example_keys(l1, class).into_iter().collect();
        assert_eq!(
            theirs.get(class).cloned().unwrap_or_default(),
            ours,
            "{class}"
        );
    }
}

#[test]
fn a_truncated_history_is_checked_up_to_its_last_complete_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    copy_known(&run, |_| true);
    let path = run.join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let cut = text.trim_end().len() - 20;
    std::fs::write(&path, &text[..cut]).unwrap();
    let (code, out, stderr) = check_json(&run);
    assert!(
        stderr.contains("warning:") && stderr.contains("the last line (78) is incomplete"),
        "{stderr}"
    );
    assert_eq!(out["records"], 77);
    assert_eq!(out["warnings"].as_array().map(Vec::len), Some(1));
    let l1 = &out["tests"]["L1"];
    // The settle record was the cut line: settle is not known to have completed, so the
    // indeterminate key that was not found is undecided instead of not applied.
    assert_eq!(l1["settled"], false);
    assert_eq!(l1["counts"]["not_applied"], 0);
    assert_eq!(example_keys(l1, "unknown"), ["not-applied-1"]);
    assert_eq!(l1["counts"]["lost"], 1);
    assert_eq!(code, 1);
}

#[test]
fn a_clean_history_exits_0_and_an_undecided_one_3() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    copy_known(&clean, |r| r["key"] == "ok-1" || r["f"] == "settle");
    let out = check(&clean, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("clean: no work lost"), "{}", out.stdout);
    let undecided = dir.path().join("undecided");
    copy_known(&undecided, |r| {
        (r["key"] == "ok-1" && r["f"] != "final-read") || r["f"] == "settle"
    });
    let out = check(&undecided, &[]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("unknown 1"), "{}", out.stdout);
    assert!(out.stdout.contains("INCONCLUSIVE"), "{}", out.stdout);
}

#[test]
fn a_directory_that_cannot_be_checked_exits_2_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(&dir.path().join("nope"), &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not a directory"), "{}", out.stderr);
    let out = check(dir.path(), &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("history.jsonl does not exist"),
        "{}",
        out.stderr
    );
    std::fs::copy(
        known().join("history.jsonl"),
        dir.path().join("history.jsonl"),
    )
    .unwrap();
    let out = check(dir.path(), &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("ledger-spec.json") && out.stderr.contains("must be run again"),
        "{}",
        out.stderr
    );
    copy_known(dir.path(), |_| true);
    let text = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    let broken = text.replacen("\"index\":2,", "\"index\":2,,", 1);
    std::fs::write(dir.path().join("history.jsonl"), broken).unwrap();
    let out = check(dir.path(), &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("line 3 is not a history record"),
        "{}",
        out.stderr
    );
}

/// A plan whose track reads every oracle the testbed offers.
fn plan(objective: &str, thresholds: &str, steps: u32, runs: u32) -> String {
    format!(
        r#"
[plan]
name = "check-offline"
seed = 11
limits = {{ duration = "2m", requests = 1000 }}

[settle]
timeout = "4s"
interval = "200ms"

[secrets]
password = {{ env = "TESTBED_PASSWORD" }}

[targets.api]
url = "${{SHAKEDOWN_API_URL}}"
health = "GET /health"

[scenarios.submit]
steps = [
  {{ name = "login", request = "POST api:/api/v1/auth/login", json = {{ username = "t", password = "{{{{ secrets.password }}}}" }}, capture = {{ token = "$.access_token" }} }},
  {{ name = "create", request = "POST api:/api/v1/runs", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, json = {{ kind = "simulate", params = {{ steps = {steps} }} }}, expect = {{ status = [201] }}, track = {{ key = "{{{{ uuid() }}}}", read = "GET api:/api/v1/runs?key={{{{ key }}}}", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, items = "$.runs[*]", state = "$.status", results = "$.result_count", terminal = ["completed", "failed"], success = ["completed"], attempts = "$.attempts", updated = "$.updated_at", started = ["running"], max_attempts = 5, objective = "{objective}" }} }},
]

[[load]]
id = "L1"
scenario = "submit"
executor = {{ rounds = {{ concurrency = {runs}, rounds = 1 }} }}
thresholds = [{thresholds}]
"#
    )
}

/// Assert that `shakedown check` on `run` prints each check's ledger exactly as in its
/// report.json, and return the offline output.
pub(crate) fn assert_same_as_live(run: &Path) -> Value {
    let report = report_json(run);
    assert_schema_valid(&report);
    let (code, offline, stderr) = check_json(run);
    assert!(stderr.is_empty(), "{stderr}");
    let live: BTreeMap<String, Value> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| !c["ledger"].is_null())
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["ledger"].clone()))
        .collect();
    let offline_tests: BTreeMap<String, Value> =
        serde_json::from_value(offline["tests"].clone()).unwrap();
    assert_eq!(
        offline_tests, live,
        "offline and live classifications differ"
    );
    assert_eq!(code, offline["exit_code"].as_i64().unwrap() as i32);
    offline
}

/// `shakedown run` of `plan` against `stack`, into `dir/run`.
pub(crate) fn run_against(stack: &Stack, dir: &Path, plan: &str) -> (Outcome, PathBuf) {
    let path = write_plan(dir, plan);
    let run = dir.join("run");
    let mut command = shakedown();
    command
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&run)
        .arg("--no-progress")
        .env("SHAKEDOWN_API_URL", stack.api())
        .env("TESTBED_PASSWORD", PASSWORD);
    (finish(command, Duration::from_secs(120)), run)
}

#[test]
fn a_missed_objective_fails_the_check_by_default_live_and_offline() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(2)
            .step_ms(200)
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let dir = tempfile::tempdir().unwrap();
    // Runs of 4 steps take 800ms; the objective is 100ms and no threshold names `slow`.
    let (out, run) = run_against(&stack, dir.path(), &plan("100ms", "", 4, 4));
    assert_eq!(
        out.code, 1,
        "NO-GO on slow:\n{}\n{}",
        out.stdout, out.stderr
    );
    let report = report_json(&run);
    let check = &report["checks"][0];
    assert_eq!(check["status"], "FAIL", "{check}");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("slow == 4 (fails by default"),
        "{reason}"
    );
    let offline = assert_same_as_live(&run);
    let l1 = &offline["tests"]["L1"];
    assert_eq!(l1["counts"]["ok"], 4, "the work itself was done: {l1}");
    assert_eq!(l1["objective"]["slow"], 4, "{l1}");
    let why = l1["examples"]["slow"][0]["why"].as_str().unwrap();
    assert!(why.contains("bounded by the poll interval, 200ms"), "{why}");
    assert_eq!(offline["exit_code"], 1);
}

#[test]
fn a_run_with_duplicate_results_is_classified_the_same_offline() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(2)
            .step_ms(20)
            .defect("duplicate-results")
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = plan("60s", "\"duplicates == 0\"", 2, 12);
    let (out, run) = run_against(&stack, dir.path(), &plan);
    assert_eq!(
        out.code, 1,
        "NO-GO on duplicates:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(run.join("ledger-spec.json").is_file());
    let offline = assert_same_as_live(&run);
    assert_eq!(offline["exit_code"], 1);
    let l1 = &offline["tests"]["L1"];
    let duplicates = l1["counts"]["duplicates"].as_u64().unwrap();
    assert!(duplicates > 0, "{l1}");
    assert_eq!(l1["duplicate_kinds"]["effect"], duplicates, "{l1}");
    assert_eq!(l1["duplicate_kinds"]["job"], 0, "{l1}");
    assert_eq!(l1["attempts"]["p50"], 1.0, "{l1}");
    assert_eq!(l1["time_to_terminal_ms"]["count"], 12, "{l1}");
    assert_eq!(l1["objective"]["met"], 12, "{l1}");
    assert_eq!(l1["counts"]["state_regression"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_orphaned_by_a_killed_worker_are_stuck_orphaned_live_and_offline() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .step_ms(150)
            .defect("stuck-on-restart")
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let api = stack.api().to_string();
    let stack = Arc::new(Mutex::new(stack));
    let env = move |name: &str| match name {
        "SHAKEDOWN_API_URL" => Some(api.clone()),
        "TESTBED_PASSWORD" => Some(PASSWORD.to_string()),
        _ => None,
    };
    let text = plan("60s", "\"stuck == 0\"", 2, 6);
    let plan = shakedown_plan::compile_str(&text, Path::new("check.toml"), &env)
        .unwrap_or_else(|e| panic!("plan compiles: {e}"));
    // Kill the worker while it holds a run, then start a new one: with leases that never
    // expire, the held run stays `running` with no progress.
    let control = stack.clone();
    let hook = shakedown_core::engine::PhaseHook(Arc::new(move || {
        let stack = control.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tokio::task::spawn_blocking(move || {
                let mut stack = stack.lock().unwrap();
                let killed = stack.command_ok("kill worker 0 KILL");
                assert_eq!(killed["ok"], true, "{killed}");
                let started = stack.command_ok("start worker 0");
                assert_eq!(started["ok"], true, "{started}");
            })
            .await
            .expect("control task");
        })
    }));
    let dir = tempfile::tempdir().unwrap();
    let options = shakedown_core::engine::RunOptions {
        out_dir: dir.path().join("run"),
        only: None,
        progress: false,
        before_settle: Some(hook),
        faults: Default::default(),
    };
    let result = shakedown_core::engine::run(
        Arc::new(plan),
        options,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("the run completes");
    let run = result.dir.clone();
    let offline = tokio::task::spawn_blocking(move || assert_same_as_live(&run))
        .await
        .expect("check task");
    let l1 = &offline["tests"]["L1"];
    // The killed worker's run is orphaned; the new worker finishes the others within settle.
    assert_eq!(l1["counts"]["stuck"], 1, "{l1}");
    assert_eq!(l1["stuck_subtypes"]["orphaned"], 1, "{l1}");
    let why = l1["examples"]["stuck"][0]["why"].as_str().unwrap();
    assert!(why.starts_with("stuck, orphaned (running"), "{why}");
    assert_eq!(l1["counts"]["ok"], 5, "{l1}");
    assert_eq!(offline["exit_code"], 1);
    assert_eq!(result.report.verdict, shakedown_core::status::Verdict::NoGo);
}
