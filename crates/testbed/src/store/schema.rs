//! The schema, written once for both SQLite and Postgres (BIGINT and TEXT only; timestamps are
//! epoch milliseconds).

/// The statements that create the schema, each idempotent.
pub const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        idem_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until BIGINT,
        completed_by TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE UNIQUE INDEX IF NOT EXISTS runs_idem_key ON runs (idem_key)",
    "CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created_at)",
    // One row per recorded completion. Idempotent completion always writes ordinal 0; the
    // `duplicate-results` defect writes the next ordinal instead.
    "CREATE TABLE IF NOT EXISTS run_results (
        run_id TEXT NOT NULL,
        ordinal BIGINT NOT NULL,
        worker TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (run_id, ordinal)
    )",
    // Events are identified by (run, type, step), so a re-claimed run does not repeat them; `seq`
    // is the per-run SSE id.
    "CREATE TABLE IF NOT EXISTS run_events (
        run_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        step BIGINT NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (run_id, seq)
    )",
    "CREATE UNIQUE INDEX IF NOT EXISTS run_events_identity ON run_events (run_id, kind, step)",
    "CREATE TABLE IF NOT EXISTS workers (
        boot_id TEXT PRIMARY KEY,
        pid BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        last_heartbeat BIGINT NOT NULL,
        state TEXT NOT NULL
    )",
];
