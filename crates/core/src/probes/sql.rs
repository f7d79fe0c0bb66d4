//! `sql = { ... }`: one query against a Postgres oracle, through a fresh connection, inside a
//! read-only transaction that is rolled back, bounded by the oracle's timeout (on the client,
//! and as the transaction's `statement_timeout` on the server).
//!
//! The query is first prepared, which Postgres refuses for more than one statement, so a query
//! cannot leave the read-only transaction with `; COMMIT; ...`. It then runs through the simple
//! query protocol, whose values arrive as text, and each is decoded by its type's name into
//! JSON (`sql/rows.rs`). The rows are counted, the first value is the scalar, the first
//! [`KEPT_ROWS`] go into the report, and with `ledger` every row feeds the ground truth
//! (`sql/ledger.rs`). What could not be read (an unreachable database, a refused login, an SQL
//! error) is the section's error, naming the oracle and what to fix: INCONCLUSIVE, never PASS.

mod ledger;
mod rows;

use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Column, ConnectOptions, Connection, Executor, Row, Statement, TypeInfo, ValueRef};

use super::VerifyEnv;
use super::jobs::TrackedJob;
use super::value::{scalar_holds, show};
use crate::report::verify_section::{LatencyStats, VerifySection};
use ledger::GroundTruth;
use shakedown_plan::model::{Oracle, OracleKind, ScalarExpect, SqlLedger, SqlProbe};

/// Rows kept in the report (they are redacted on output).
pub const KEPT_ROWS: usize = 20;

/// Run the query and assert its rows.
pub async fn run(probe: &SqlProbe, oracle: &Oracle, env: &VerifyEnv<'_>) -> VerifySection {
    let mut section = VerifySection::new("sql", Some(&oracle.name), probe.query.clone());
    let mut seen = Seen::new(probe, env.jobs);
    match read(probe, oracle, env, &mut seen, &mut section).await {
        Ok(()) => seen.judge(probe, &mut section),
        Err(e) => section.error = Some(e),
    }
    section
}

/// What the rows showed, gathered one row at a time.
struct Seen<'a> {
    rows: u64,
    first: Option<Value>,
    records: Vec<BTreeMap<String, Value>>,
    /// The ledger's key, state and results column positions, and the ground truth.
    ledger: Option<(&'a SqlLedger, [Option<usize>; 3], GroundTruth<'a>)>,
}

impl<'a> Seen<'a> {
    fn new(probe: &'a SqlProbe, jobs: &'a [TrackedJob]) -> Seen<'a> {
        Seen {
            rows: 0,
            first: None,
            records: Vec::new(),
            ledger: probe
                .ledger
                .as_ref()
                .map(|l| (l, [None; 3], GroundTruth::new(jobs, &l.tests))),
        }
    }

    /// Find the ledger's columns among the query's; Err names a missing one.
    fn columns(&mut self, names: &[String]) -> Result<(), String> {
        let Some((mapping, at, _)) = &mut self.ledger else {
            return Ok(());
        };
        let wanted = [
            ("key", Some(&mapping.key)),
            ("state", Some(&mapping.state)),
            ("results", mapping.results.as_ref()),
        ];
        for (slot, (field, column)) in wanted.into_iter().enumerate() {
            let Some(column) = column else { continue };
            match names.iter().position(|n| n == column) {
                Some(i) => at[slot] = Some(i),
                None => {
                    return Err(format!(
                        "`ledger.{field}` names the column `{column}`, which the query does not \
                         return (its columns: {}); select it, or alias it with AS {column}",
                        names.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    fn row(&mut self, names: &[String], values: Vec<Value>) {
        self.rows += 1;
        if self.rows == 1 {
            self.first = values.first().cloned();
        }
        if let Some((_, at, truth)) = &mut self.ledger {
            let column = |i: Option<usize>| i.and_then(|i| values.get(i));
            let key = column(at[0]).and_then(rows::text_of);
            let state = column(at[1]).and_then(rows::text_of);
            let results = column(at[2]).map(|v| super::value::number(v).unwrap_or(0.0));
            truth.row(key.as_deref(), state, results);
        }
        if self.records.len() < KEPT_ROWS {
            self.records.push(
                names
                    .iter()
                    .cloned()
                    .zip(values)
                    .collect::<BTreeMap<_, _>>(),
            );
        }
    }

    /// The assertions over everything seen.
    fn judge(self, probe: &SqlProbe, section: &mut VerifySection) {
        section.count("rows", self.rows);
        if let Some(rows) = &probe.rows {
            let held = rows.holds(self.rows as f64);
            // A failed count names a row, so that the reason says which.
            let observed = match self.records.first() {
                Some(first) if !held => {
                    let first = serde_json::to_value(first).unwrap_or_default();
                    format!("{}, the first: {}", self.rows, show(&first))
                }
                _ => self.rows.to_string(),
            };
            section.assert(format!("rows {rows}"), Some(observed), held);
        }
        if let Some(expect) = &probe.scalar {
            let expectation = match expect {
                ScalarExpect::Equals(v) => format!("first value == {}", show(v)),
                ScalarExpect::Compare(c) => format!("first value {c}"),
            };
            let (held, observed) = match &self.first {
                Some(value) => scalar_holds(expect, value),
                None => (false, "no rows".to_string()),
            };
            section.assert(expectation, Some(observed), held);
        }
        section.records = self.records;
        if let Some((mapping, _, truth)) = self.ledger
            && let Err(e) = truth.judge(mapping, section)
        {
            section.error = Some(e);
        }
    }
}

/// Connect, run the query read-only, roll back and close. Err is the section's error.
async fn read(
    probe: &SqlProbe,
    oracle: &Oracle,
    env: &VerifyEnv<'_>,
    seen: &mut Seen<'_>,
    section: &mut VerifySection,
) -> Result<(), String> {
    let started = Instant::now();
    let mut conn = connect(oracle, env.plan).await?;
    let connected = Instant::now();
    let outcome = query(&mut conn, probe, oracle, seen).await;
    let queried = Instant::now();
    // Closing ends the transaction too, if the query failed before its ROLLBACK.
    let _ = tokio::time::timeout(oracle.timeout, conn.close()).await;
    outcome?;
    for (what, from, to) in [
        ("connect", started, connected),
        ("query", connected, queried),
    ] {
        let ms = to.duration_since(from).as_secs_f64() * 1000.0;
        if let Some(stats) = LatencyStats::of(&[ms]) {
            section.latency_ms.insert(what.into(), stats);
        }
    }
    Ok(())
}

/// A fresh connection to a postgres oracle, bounded by its timeout.
pub(super) async fn connect(
    oracle: &Oracle,
    plan: &shakedown_plan::model::Plan,
) -> Result<PgConnection, String> {
    let name = &oracle.name;
    let OracleKind::Postgres(url) = &oracle.kind else {
        return Err(super::wrong_kind(oracle, "postgres"));
    };
    let url = super::render_url(oracle, url, plan)?;
    let options = PgConnectOptions::from_str(&url)
        .map_err(|e| {
            format!("oracle `{name}`: its URL is not a Postgres URL ({e}); write postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        })?
        .application_name("shakedown")
        .disable_statement_logging();
    bounded(oracle, "connecting", options.connect()).await
}

async fn query(
    conn: &mut PgConnection,
    probe: &SqlProbe,
    oracle: &Oracle,
    seen: &mut Seen<'_>,
) -> Result<(), String> {
    let begin = format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {}",
        oracle.timeout.as_millis().max(1)
    );
    bounded(
        oracle,
        "starting the read-only transaction",
        sqlx::raw_sql(&begin).execute(&mut *conn),
    )
    .await?;
    let statement = bounded(
        oracle,
        "preparing the query",
        (&mut *conn).prepare(&probe.query),
    )
    .await?;
    let names: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    seen.columns(&names)?;
    let deadline = tokio::time::Instant::now() + oracle.timeout;
    let mut stream = sqlx::raw_sql(&probe.query).fetch(&mut *conn);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.try_next())
            .await
            .map_err(|_| too_slow(oracle, "reading the rows"))?
            .map_err(|e| explain(oracle, "running the query", e))?;
        match next {
            Some(row) => seen.row(&names, values(&row)),
            None => break,
        }
    }
    drop(stream);
    bounded(
        oracle,
        "rolling back",
        sqlx::raw_sql("ROLLBACK").execute(&mut *conn),
    )
    .await?;
    Ok(())
}

/// Every value of a text-format row as JSON.
fn values(row: &PgRow) -> Vec<Value> {
    row.columns()
        .iter()
        .map(|column| {
            let text = row
                .try_get_raw(column.ordinal())
                .ok()
                .filter(|raw| !raw.is_null())
                .and_then(|raw| raw.as_bytes().ok().map(String::from_utf8_lossy));
            rows::to_json(column.type_info().name(), text.as_deref())
        })
        .collect()
}

/// `work`, bounded by the oracle's timeout, with its error explained.
async fn bounded<T>(
    oracle: &Oracle,
    doing: &str,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    tokio::time::timeout(oracle.timeout, work)
        .await
        .map_err(|_| too_slow(oracle, doing))?
        .map_err(|e| explain(oracle, doing, e))
}

fn too_slow(oracle: &Oracle, doing: &str) -> String {
    format!(
        "oracle `{}`: no answer within {} while {doing}; check that the database is up and \
         reachable, or raise the oracle's `timeout`",
        oracle.name,
        humantime::format_duration(oracle.timeout)
    )
}

/// An sqlx error in words that name the oracle and the fix.
fn explain(oracle: &Oracle, doing: &str, error: sqlx::Error) -> String {
    let name = &oracle.name;
    match &error {
        sqlx::Error::Database(db) => {
            let message = db.message();
            let code = db.code().unwrap_or_default();
            match sqlstate_hint(&code, message, oracle.timeout) {
                Some(fix) => format!("oracle `{name}`: {message}; {fix}"),
                None => format!("oracle `{name}`: {doing} failed: {message} (SQLSTATE {code})"),
            }
        }
        sqlx::Error::Io(io) => format!(
            "oracle `{name}`: cannot reach the database ({io}); check that Postgres is running \
             and the host and port in the oracle's URL"
        ),
        sqlx::Error::Tls(tls) => {
            format!("oracle `{name}`: TLS failed ({tls}); check `sslmode` in the oracle's URL")
        }
        other => format!("oracle `{name}`: {doing} failed: {other}"),
    }
}

/// The fix for a Postgres error code, where there is a clear one.
fn sqlstate_hint(code: &str, message: &str, timeout: Duration) -> Option<String> {
    let hint = match code {
        "28P01" | "28000" => "check the user and secret in the oracle's URL".to_string(),
        "3D000" => "check the database name in the oracle's URL".to_string(),
        "25006" => "a sql check only reads: write a query that changes nothing".to_string(),
        "57014" => format!(
            "the query ran longer than the oracle's timeout ({}): make it cheaper or raise \
             `timeout`",
            humantime::format_duration(timeout)
        ),
        "42601" if message.contains("multiple commands") => {
            "a sql check runs exactly one statement".to_string()
        }
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_with_a_clear_fix_say_it() {
        let t = Duration::from_secs(2);
        let hint = sqlstate_hint("28P01", "password authentication failed", t).unwrap();
        assert!(hint.contains("user and secret"), "{hint}");
        let hint = sqlstate_hint("57014", "canceling statement", t).unwrap();
        assert!(hint.contains("2s"), "{hint}");
        assert!(
            sqlstate_hint(
                "42601",
                "cannot insert multiple commands into a prepared statement",
                t
            )
            .is_some()
        );
        assert!(sqlstate_hint("42601", "syntax error at or near \"SELEKT\"", t).is_none());
        assert!(sqlstate_hint("42P01", "relation \"nope\" does not exist", t).is_none());
    }
}
