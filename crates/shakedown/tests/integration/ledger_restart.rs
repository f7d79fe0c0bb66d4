//! The ledger catches lost work: with `lose-acked`, the testbed acknowledges runs it has not made
//! durable; restarting its API between the load and the settle phase loses them, and the run
//! must end NO-GO with `lost > 0`, each lost key witnessed in the history.

use std::path::Path;
use std::sync::{Arc, Mutex};

use shakedown_core::engine::{PhaseHook, RunOptions};
use tokio_util::sync::CancellationToken;

use crate::support::stack::{Stack, StackOptions};

const PLAN: &str = r#"
[plan]
name = "lose-acked"
seed = 7
limits = { duration = "2m", requests = 1000 }

[settle]
timeout = "10s"
interval = "200ms"

[secrets]
password = { env = "TESTBED_PASSWORD" }

[targets.api]
url = "${SHAKEDOWN_API_URL}"
health = "GET /health"

[scenarios.submit]
steps = [
  { name = "login", request = "POST api:/api/v1/auth/login", json = { username = "t", password = "{{ secrets.password }}" }, capture = { token = "$.access_token" } },
  { name = "create", request = "POST api:/api/v1/runs", headers = { Authorization = "Bearer {{ token }}" }, json = { kind = "simulate", params = { steps = 2 } }, expect = { status = [201] }, track = { key = "{{ uuid() }}", read = "GET api:/api/v1/runs?key={{ key }}", headers = { Authorization = "Bearer {{ token }}" }, items = "$.runs[*]", state = "$.status", results = "$.result_count", terminal = ["completed", "failed"], success = ["completed"] } },
]

[[load]]
id = "L1"
scenario = "submit"
executor = { rounds = { concurrency = 10, rounds = 1 } }
thresholds = ["count(failures) == 0", "lost == 0"]
"#;

async fn run_with_restart(
    defects: &[&str],
) -> (shakedown_core::report::model::Report, tempfile::TempDir) {
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .defects(defects)
            .env("TESTBED_PASSWORD", "pw-restart-test"),
    );
    let api = stack.api().to_string();
    let stack = Arc::new(Mutex::new(stack));
    let env = move |name: &str| match name {
        "SHAKEDOWN_API_URL" => Some(api.clone()),
        "TESTBED_PASSWORD" => Some("pw-restart-test".to_string()),
        _ => None,
    };
    let plan = shakedown_plan::compile_str(PLAN, Path::new("lose-acked.toml"), &env)
        .unwrap_or_else(|e| panic!("plan compiles: {e}"));
    let restarts = stack.clone();
    let hook = PhaseHook(Arc::new(move || {
        let stack = restarts.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let answer = stack.lock().unwrap().command_ok("restart api");
                assert_eq!(answer["ok"], true, "{answer}");
            })
            .await
            .expect("restart task");
        })
    }));
    let dir = tempfile::tempdir().unwrap();
    let options = RunOptions {
        out_dir: dir.path().join("run"),
        only: None,
        progress: false,
        before_settle: Some(hook),
        faults: Default::default(),
    };
    let result = shakedown_core::engine::run(Arc::new(plan), options, CancellationToken::new())
        .await
        .expect("the run completes");
    (result.report, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_runs_lost_by_a_restart_are_lost_and_no_go() {
    let (report, dir) = run_with_restart(&["lose-acked"]).await;
    let check = &report.checks[0];
    let ledger = check.ledger.as_ref().expect("a ledger summary");
    let lost = ledger.count(shakedown_plan::model::LedgerClass::Lost);
    assert!(lost > 0, "lost = {lost}: {ledger:?}");
    assert_eq!(
        check.status,
        shakedown_core::status::Status::Fail,
        "{}",
        check.reason
    );
    assert!(check.reason.contains("lost == 0"), "{}", check.reason);
    assert_eq!(report.verdict, shakedown_core::status::Verdict::NoGo);
    assert_eq!(report.exit_code, 1);
    let examples = &ledger.examples[&shakedown_plan::model::LedgerClass::Lost];
    assert!(!examples.is_empty() && !examples[0].witnesses.is_empty());
    // The history on disk witnesses the lost key's acknowledgement.
    let history = std::fs::read_to_string(dir.path().join("run/history.jsonl")).unwrap();
    assert!(history.contains(&examples[0].key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_restart_without_the_defect_loses_nothing() {
    let (report, _dir) = run_with_restart(&[]).await;
    let check = &report.checks[0];
    let ledger = check.ledger.as_ref().expect("a ledger summary");
    assert_eq!(
        ledger.count(shakedown_plan::model::LedgerClass::Lost),
        0,
        "{ledger:?}"
    );
    assert_eq!(
        ledger.count(shakedown_plan::model::LedgerClass::Ok),
        10,
        "{ledger:?}"
    );
    assert_eq!(
        check.status,
        shakedown_core::status::Status::Pass,
        "{}",
        check.reason
    );
    assert_eq!(report.verdict, shakedown_core::status::Verdict::Go);
}
