//! SQL checks against a real Postgres (one server for every SQL case, the ledger included):
//! row counts and scalars pass on the healthy table, fail once the test changes a row (naming
//! it), a query that writes or holds two statements changes nothing and is INCONCLUSIVE, and
//! every check is BLOCKED at preflight once the server is stopped.

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use super::{assert_check, check, run_checks};
use crate::support::postgres::Postgres;

fn plan(url: &str) -> String {
    format!(
        r#"
[plan]
name = "sql-probes"
limits = {{ duration = "1m", requests = 10 }}

[oracles.db]
postgres = "{url}"
timeout = "5s"

[[verify]]
id = "UNPAID"
sql = {{ oracle = "db", query = "SELECT id, status FROM orders WHERE status <> 'paid' ORDER BY id", rows = 0 }}

[[verify]]
id = "COUNT"
sql = {{ oracle = "db", query = "SELECT count(*) FROM orders", scalar = 3 }}

[[verify]]
id = "REVENUE"
sql = {{ oracle = "db", query = "SELECT sum(total) FROM orders", scalar = ">= 30" }}

[[verify]]
id = "ROWS"
sql = {{ oracle = "db", query = "SELECT id, status, total, paid, placed_at, note FROM orders ORDER BY id", rows = ">= 3" }}
"#
    )
}

/// Checks that must not change anything, and a database that does not exist.
fn hostile_plan(url: &str, missing: &str) -> String {
    format!(
        r#"
[plan]
name = "sql-hostile"
limits = {{ duration = "1m", requests = 10 }}

[oracles.db]
postgres = "{url}"
timeout = "5s"

[oracles.gone]
postgres = "{missing}"
timeout = "5s"

[[verify]]
id = "WRITE"
sql = {{ oracle = "db", query = "DELETE FROM orders RETURNING id", rows = 0 }}

[[verify]]
id = "TWO"
sql = {{ oracle = "db", query = "SELECT 1; DELETE FROM orders", scalar = 1 }}

[[verify]]
id = "TYPO"
sql = {{ oracle = "db", query = "SELECT * FROM order_typo", rows = 0 }}

[[verify]]
id = "NODB"
sql = {{ oracle = "gone", query = "SELECT 1", scalar = 1 }}
"#
    )
}

async fn execute(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
    conn.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("closing");
}

async fn order_count(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connecting");
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .expect("counting orders");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_checks_pass_healthy_fail_on_changed_rows_and_block_when_down() {
    let postgres = Postgres::start();
    let url = postgres.create_database("shop");
    execute(
        &url,
        "CREATE TABLE orders (id INT PRIMARY KEY, status TEXT NOT NULL, total NUMERIC(10,2), \
         paid BOOL, placed_at TIMESTAMPTZ, note TEXT);
         INSERT INTO orders VALUES
           (1, 'paid', 10.50, true, '2024-05-01 12:00:00+00', NULL),
           (2, 'paid', 12.00, true, '2024-05-01 12:05:00+00', 'gift'),
           (3, 'paid', 7.50, true, '2024-05-01 12:10:00+00', NULL);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&url);

    let (healthy, report) = run_checks(dir.path(), "healthy", &plan);
    for id in ["UNPAID", "COUNT", "REVENUE", "ROWS"] {
        assert_check(&report, id, "PASS", &[]);
    }
    assert_eq!(healthy.code, 0, "GO; stdout:\n{}", healthy.stdout);
    // Rows reach the report typed: numbers, booleans, NULL, and timestamps as text.
    let rows = &check(&report, "ROWS")["verify"];
    assert_eq!(rows["counts"]["rows"], 3);
    let first = &rows["records"][0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["total"], json!(10.5));
    assert_eq!(first["paid"], true);
    assert_eq!(first["note"], json!(null));
    let placed = first["placed_at"].as_str().expect("a timestamp as text");
    assert!(placed.starts_with("2024-05-01"), "{placed}");

    execute(
        &url,
        "UPDATE orders SET status = 'refunded', total = 0 WHERE id = 2; \
         DELETE FROM orders WHERE id = 3;",
    )
    .await;
    let (changed, report) = run_checks(dir.path(), "changed", &plan);
    assert_eq!(changed.code, 1, "NO-GO; stdout:\n{}", changed.stdout);
    assert_check(
        &report,
        "UNPAID",
        "FAIL",
        &[
            "rows == 0 (observed 1, the first:",
            "\"id\":2",
            "\"refunded\"",
        ],
    );
    assert_check(&report, "COUNT", "FAIL", &["first value == 3 (observed 2)"]);
    assert_check(
        &report,
        "REVENUE",
        "FAIL",
        &["first value >= 30 (observed 10.5)"],
    );
    assert_check(&report, "ROWS", "FAIL", &["rows >= 3 (observed 2"]);

    let missing = postgres.url("no_such_db");
    let (hostile, report) = run_checks(dir.path(), "hostile", &hostile_plan(&url, &missing));
    assert_eq!(hostile.code, 3, "INCOMPLETE; stdout:\n{}", hostile.stdout);
    assert_check(
        &report,
        "WRITE",
        "INCONCLUSIVE",
        &["oracle `db`", "read-only", "only reads"],
    );
    assert_check(&report, "TWO", "INCONCLUSIVE", &["exactly one statement"]);
    assert_check(
        &report,
        "TYPO",
        "INCONCLUSIVE",
        &["order_typo", "SQLSTATE 42P01"],
    );
    assert_check(
        &report,
        "NODB",
        "BLOCKED",
        &["preflight: oracle `gone`", "database name"],
    );
    assert_eq!(
        order_count(&url).await,
        2,
        "a sql check wrote to the database"
    );

    super::sql_ledger::ledger_ground_truth(&postgres).await;

    drop(postgres);
    let (down, report) = run_checks(dir.path(), "down", &plan);
    assert_eq!(down.code, 3, "INCOMPLETE; stdout:\n{}", down.stdout);
    for id in ["UNPAID", "COUNT", "REVENUE", "ROWS"] {
        assert_check(
            &report,
            id,
            "BLOCKED",
            &["preflight: oracle `db`", "cannot reach the database"],
        );
    }
}
