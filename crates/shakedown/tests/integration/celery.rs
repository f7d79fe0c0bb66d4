//! `examples/celery/gate.toml` against a real third-party stack: a FastAPI job service and a
//! Celery worker (from the virtual environment `bash .ci/test` makes), on a real Postgres and a
//! real Redis, both started by shakedown as process targets. Clean load is GO; a worker SIGKILLed
//! while it holds `acks_late` jobs (C1) and Redis taken away from the API's enqueues (C3) are
//! NO-GO, naming the keys. Every verdict is held against the jobs table itself: the keys the
//! gate called stuck are exactly the rows left `started` or `queued`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::run::{Outcome, assert_schema_valid, check, finish, report_json, shakedown};
use crate::support::free_port;
use crate::support::postgres::Postgres;
use crate::support::redis::RedisServer;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtual environment with the example's pinned stack; a panic naming `bash .ci/test` when
/// it is missing or was made from other requirements.
fn venv() -> PathBuf {
    let venv = std::env::var_os("SHAKEDOWN_CELERY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("target/celery-venv"));
    let venv = std::path::absolute(&venv).expect("an absolute venv path");
    for program in ["bin/celery", "bin/uvicorn"] {
        assert!(
            venv.join(program).is_file(),
            "{} has no {program}: the Celery example's virtual environment is missing; \
             run `bash .ci/test` (it makes it from examples/celery/requirements.txt)",
            venv.display()
        );
    }
    let wanted = std::fs::read_to_string(repository().join("examples/celery/requirements.txt"))
        .expect("examples/celery/requirements.txt");
    let installed = std::fs::read_to_string(venv.join("requirements.txt")).unwrap_or_default();
    assert_eq!(
        installed,
        wanted,
        "{} was made from other requirements than examples/celery/requirements.txt; \
         run `bash .ci/test` to rebuild it",
        venv.display()
    );
    venv
}

/// One gate run: its outcome, its report, and the jobs table after it (key to status).
struct Gate {
    out: Outcome,
    report: Value,
    table: Vec<(String, String)>,
}

impl Gate {
    /// The keys whose row is in one of `statuses`.
    fn rows_in(&self, statuses: &[&str]) -> BTreeSet<String> {
        self.table
            .iter()
            .filter(|(_, status)| statuses.contains(&status.as_str()))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The example keys of a ledger class of check `id`, which must hold all of them.
    fn ledger_keys(&self, id: &str, class: &str) -> BTreeSet<String> {
        let ledger = &check(&self.report, id)["ledger"];
        let keys: BTreeSet<String> = ledger["examples"][class]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["key"].as_str().map(str::to_string))
            .collect();
        assert_eq!(
            ledger["counts"][class].as_u64(),
            Some(keys.len() as u64),
            "{id}: every {class} key is among the examples: {ledger}"
        );
        keys
    }

    /// The keys the `sql` ledger check DB found in `class`.
    fn db_findings(&self, class: &str) -> BTreeSet<String> {
        check(&self.report, "DB")["verify"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["class"] == class)
            .filter_map(|f| f["subject"].as_str().map(str::to_string))
            .collect()
    }

    fn context(&self) -> String {
        format!(
            "table: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.table, self.out.stdout, self.out.stderr
        )
    }
}

/// Run the gate with `--only only` against a fresh Postgres and Redis, then read the jobs table.
fn run_gate(only: &str) -> Gate {
    let venv = venv();
    let pg = Postgres::start();
    let database = pg.create_database("jobs");
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let mut command = shakedown();
    command
        .arg("run")
        .arg(repository().join("examples/celery/gate.toml"))
        .args(["--no-progress", "--only", only, "--out"])
        .arg(&run)
        .current_dir(dir.path())
        .env("CELERY_VENV", &venv)
        .env("CELERY_APP_DIR", repository().join("examples/celery"))
        .env("CELERY_API_PORT", free_port().to_string())
        .env("CELERY_DATABASE_URL", &database)
        .env("CELERY_REDIS", format!("127.0.0.1:{}", redis.port()));
    let out = finish(command, Duration::from_secs(120));
    let report = report_json(&run);
    assert_schema_valid(&report);
    let table = jobs_table(&database);
    drop(redis);
    drop(pg);
    Gate { out, report, table }
}

fn jobs_table(database: &str) -> Vec<(String, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut conn = PgConnection::connect(database)
            .await
            .expect("connecting to the jobs database");
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, status FROM jobs ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .expect("reading the jobs table");
        conn.close().await.expect("closing");
        rows
    })
}

#[test]
fn clean_load_on_the_celery_stack_is_go_and_every_row_succeeded() {
    let gate = run_gate("L1,DB");
    assert_eq!(gate.out.code, 0, "GO\n{}", gate.context());
    assert_eq!(gate.report["verdict"], "GO");
    let l1 = check(&gate.report, "L1");
    assert_eq!(l1["status"], "PASS", "{l1}");
    assert_eq!(l1["ledger"]["counts"]["ok"], 8, "{l1}");
    assert_eq!(check(&gate.report, "DB")["status"], "PASS");
    assert_eq!(gate.table.len(), 8, "{}", gate.context());
    assert_eq!(
        gate.rows_in(&["succeeded"]).len(),
        8,
        "every row succeeded: {}",
        gate.context()
    );
}

#[test]
fn a_worker_killed_while_it_holds_acks_late_jobs_is_no_go_naming_the_rows_left_started() {
    let gate = run_gate("C1,DB");
    assert_eq!(gate.out.code, 1, "NO-GO\n{}", gate.context());
    assert_eq!(gate.report["verdict"], "NO-GO");
    let c1 = check(&gate.report, "C1");
    assert_eq!(c1["status"], "FAIL", "{c1}");
    assert!(
        c1["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("stuck =="),
        "{c1}"
    );
    for fault in c1["fault"]["faults"].as_array().expect("C1's faults") {
        assert_eq!(fault["proven"], true, "{fault}");
    }
    // The kill reached the worker's prefork children too, and every one of them died.
    let kill = c1["fault"]["faults"][0]["proof"]
        .as_str()
        .unwrap_or_default();
    assert!(
        kill.contains("'s group (") && kill.contains("got SIGKILL and all exited"),
        "{kill}"
    );
    // The truth is in the table: the job the killed worker was running stays `started`, and one
    // it had taken but not begun stays `queued`; Redis hands neither out again for an hour.
    let left = gate.rows_in(&["started", "queued"]);
    assert!(
        !gate.rows_in(&["started"]).is_empty(),
        "a job was mid-work when the worker died: {}",
        gate.context()
    );
    let stuck = gate.ledger_keys("C1", "stuck");
    eprintln!("C1: stuck {stuck:?}; table {:?}", gate.table);
    assert_eq!(stuck, left, "{}", gate.context());
    assert_eq!(gate.db_findings("stuck"), left, "{}", gate.context());
    assert_eq!(
        gate.rows_in(&["succeeded"]).len() + left.len(),
        gate.table.len(),
        "{}",
        gate.context()
    );
}

#[test]
fn redis_taken_away_from_the_enqueue_leaves_rows_queued_and_is_never_go() {
    let gate = run_gate("C3,DB");
    assert_eq!(gate.out.code, 1, "NO-GO\n{}", gate.context());
    assert_eq!(gate.report["verdict"], "NO-GO");
    let c3 = check(&gate.report, "C3");
    assert_eq!(c3["status"], "FAIL", "{c3}");
    let proof = c3["fault"]["faults"][0]["proof"]
        .as_str()
        .unwrap_or_default();
    assert!(
        proof.starts_with("proxy redis counted toxic down"),
        "{proof}"
    );
    // Each submit in the outage committed its row, then failed to enqueue and answered 500:
    // found by its key, so recovered, and then stuck: exactly the rows left `queued`.
    let queued = gate.rows_in(&["queued"]);
    assert!(!queued.is_empty(), "{}", gate.context());
    assert!(gate.rows_in(&["started"]).is_empty(), "{}", gate.context());
    let stuck = gate.ledger_keys("C3", "stuck");
    eprintln!("C3: stuck {stuck:?}; table {:?}", gate.table);
    assert_eq!(stuck, queued, "{}", gate.context());
    // Recovered keys are the 500s whose row exists: every queued row, and any submit whose
    // enqueue reached Redis just as the proxy cut the connection (its job then ran and
    // succeeded, which the ledger judges ok).
    let recovered = gate.ledger_keys("C3", "recovered");
    assert!(recovered.is_superset(&queued), "{}", gate.context());
    let succeeded = gate.rows_in(&["succeeded"]);
    for key in recovered.difference(&queued) {
        assert!(succeeded.contains(key), "{key}: {}", gate.context());
    }
    assert_eq!(gate.db_findings("stuck"), queued, "{}", gate.context());
}
