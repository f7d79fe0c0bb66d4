//! The SQL ledger's ground truth: the testbed on Postgres takes a small tracked load, and a `sql`
//! check reads its runs table with `ledger = { key, state, results }`. Clean, every acknowledged
//! key has exactly one terminal row; when the test deletes one tracked run's row between the
//! load and settle, the check fails with `lost`, naming that key. Rows of the earlier run are not
//! this run's work, and are only counted.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shakedown_core::engine::{PhaseHook, RunOptions};
use shakedown_core::report::verify_section::VerifySection;
use shakedown_core::status::Status;
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::support::postgres::Postgres;
use crate::support::stack::{Stack, StackOptions};

const PASSWORD: &str = "pw-sql-ledger";
const RUNS: usize = 6;

const PLAN: &str = r#"
[plan]
name = "sql-ledger"
seed = 7
limits = { duration = "2m", requests = 1000 }

[settle]
timeout = "20s"
interval = "200ms"

[secrets]
password = { env = "TESTBED_PASSWORD" }
database = { env = "LEDGER_DATABASE_URL" }

[oracles.db]
postgres = "{{ secrets.database }}"
timeout = "5s"

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
executor = { rounds = { concurrency = 6, rounds = 1 } }
thresholds = ["count(failures) == 0"]

[[verify]]
id = "LEDGER"
sql = { oracle = "db", query = "SELECT r.idem_key AS key, r.status, (SELECT count(*) FROM run_results x WHERE x.run_id = r.id) AS result_count FROM runs r", ledger = { key = "key", state = "status", results = "result_count", tests = ["L1"] } }
"#;

/// Run the plan against the stack; `before_settle` may change the database first.
async fn run(
    api: &str,
    database: &str,
    before_settle: Option<PhaseHook>,
) -> shakedown_core::report::model::Report {
    let (api, database) = (api.to_string(), database.to_string());
    let env = move |name: &str| match name {
        "SHAKEDOWN_API_URL" => Some(api.clone()),
        "TESTBED_PASSWORD" => Some(PASSWORD.to_string()),
        "LEDGER_DATABASE_URL" => Some(database.clone()),
        _ => None,
    };
    let plan = shakedown_plan::compile_str(PLAN, Path::new("sql-ledger.toml"), &env)
        .unwrap_or_else(|e| panic!("plan compiles: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let options = RunOptions {
        out_dir: dir.path().join("run"),
        only: None,
        progress: false,
        before_settle,
        faults: Default::default(),
    };
    let result = shakedown_core::engine::run(Arc::new(plan), options, CancellationToken::new())
        .await
        .expect("the run completes");
    let written = crate::run::report_json(&dir.path().join("run"));
    crate::run::assert_schema_valid(&written);
    result.report
}

fn ledger_check(report: &shakedown_core::report::model::Report) -> (&Status, &str, &VerifySection) {
    let check = report
        .checks
        .iter()
        .find(|c| c.id == "LEDGER")
        .expect("the LEDGER check");
    let section = check.verify.as_ref().expect("what LEDGER observed");
    (&check.status, &check.reason, section)
}

/// Once every run is terminal, delete the newest run's row and return its key.
async fn delete_newest_run(database: &str) -> String {
    let mut conn = PgConnection::connect(database).await.expect("connecting");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (open,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM runs WHERE status NOT IN ('completed', 'failed')")
                .fetch_one(&mut conn)
                .await
                .expect("counting open runs");
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} runs still open after 30s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (key,): (String,) = sqlx::query_as(
        "DELETE FROM runs WHERE id = (SELECT id FROM runs ORDER BY created_at DESC, id LIMIT 1) \
         RETURNING idem_key",
    )
    .fetch_one(&mut conn)
    .await
    .expect("deleting a run");
    conn.close().await.expect("closing");
    key
}

/// Called by the SQL test with its Postgres.
pub async fn ledger_ground_truth(postgres: &Postgres) {
    let database = postgres.create_database("testbed");
    let stack = Stack::start(
        StackOptions::new()
            .workers(2)
            .database(&database)
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let api = stack.api().to_string();

    let report = run(&api, &database, None).await;
    let (status, reason, section) = ledger_check(&report);
    assert_eq!(*status, Status::Pass, "{reason}");
    assert_eq!(section.counts["keys"], RUNS as u64);
    assert_eq!(section.counts["rows"], RUNS as u64);
    assert_eq!(section.counts["untracked_rows"], 0);
    let observed = section.assertions[0].observed.as_deref();
    assert_eq!(observed, Some(format!("{RUNS} of {RUNS}").as_str()));

    let deleted: Arc<Mutex<Option<String>>> = Arc::default();
    let slot = deleted.clone();
    let db = database.clone();
    let hook = PhaseHook(Arc::new(move || {
        let (slot, db) = (slot.clone(), db.clone());
        Box::pin(async move {
            let key = delete_newest_run(&db).await;
            *slot.lock().unwrap() = Some(key);
        })
    }));
    let report = run(&api, &database, Some(hook)).await;
    let key = deleted
        .lock()
        .unwrap()
        .clone()
        .expect("the hook deleted a run");
    let (status, reason, section) = ledger_check(&report);
    assert_eq!(*status, Status::Fail, "{reason}");
    assert!(
        reason.contains(&format!("lost 1 (e.g. {key}: acknowledged")),
        "{reason}"
    );
    assert_eq!(section.counts["lost"], 1);
    // The first run's rows are in the table too: counted, never judged.
    assert_eq!(section.counts["untracked_rows"], RUNS as u64);
    let observed = section.assertions[0].observed.as_deref();
    assert_eq!(observed, Some(format!("{} of {RUNS}", RUNS - 1).as_str()));
    drop(stack);
}
