"""The jobs table in Postgres: one row per client key, with the job's status
(`queued`, `started`, `succeeded`), its attempts and timestamps."""

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from jobs import config

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    payload     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'queued',
    attempts    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
)
"""

COLUMNS = "id, key, status, attempts, created_at, started_at, finished_at, updated_at"


def connect() -> psycopg.Connection:
    """A new autocommit connection whose rows are dicts."""
    return psycopg.connect(config.DATABASE_URL, autocommit=True, row_factory=dict_row)


def create_schema() -> None:
    with connect() as conn:
        conn.execute(SCHEMA)


def insert(key: str, payload: dict) -> tuple[dict, bool]:
    """The job for `key`, and whether this call created it (False: it existed already)."""
    with connect() as conn:
        row = conn.execute(
            f"INSERT INTO jobs (key, payload) VALUES (%s, %s) "
            f"ON CONFLICT (key) DO NOTHING RETURNING {COLUMNS}",
            (key, Jsonb(payload)),
        ).fetchone()
        if row is not None:
            return row, True
        row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE key = %s", (key,)).fetchone()
        return row, False


def by_id(job_id: int) -> dict | None:
    with connect() as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()


def by_key(key: str) -> list[dict]:
    with connect() as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE key = %s", (key,)).fetchall()


def now():
    """The database's clock."""
    with connect() as conn:
        return conn.execute("SELECT now() AS now").fetchone()["now"]


def counts(since) -> dict[str, int]:
    """How many jobs created since `since` (the database's clock) are in each status."""
    with connect() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM jobs WHERE created_at >= %s GROUP BY status",
            (since,),
        ).fetchall()
    found = {row["status"]: row["n"] for row in rows}
    return {status: found.get(status, 0) for status in ("queued", "started", "succeeded")}


def mark_started(job_id: int) -> None:
    with connect() as conn:
        conn.execute(
            "UPDATE jobs SET status = 'started', attempts = attempts + 1, "
            "started_at = now(), updated_at = now() WHERE id = %s",
            (job_id,),
        )


def mark_succeeded(job_id: int) -> None:
    with connect() as conn:
        conn.execute(
            "UPDATE jobs SET status = 'succeeded', finished_at = now(), updated_at = now() "
            "WHERE id = %s",
            (job_id,),
        )


def ping() -> None:
    with connect() as conn:
        conn.execute("SELECT 1")
