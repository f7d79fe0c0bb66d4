"""The HTTP API, run with `uvicorn jobs.api:app`:

- `POST /jobs` (with an `Idempotency-Key` header) records a job and enqueues it; the same key
  again answers 200 with the job it made;
- `GET /jobs/{id}` and `GET /jobs?key=K` read jobs back;
- `GET /stats` counts the jobs submitted since this process started, by status;
- `GET /health` (with a boot id) and `GET /health/ready` (Postgres and the broker answer).

A submit first inserts the row (status `queued`) and then enqueues the task, the common
pattern: when the enqueue fails (Redis unreachable), the answer is a 500 and the row stays
`queued`, with no message to ever run it."""

import contextlib
import uuid

import redis
from fastapi import FastAPI, Header, HTTPException, Response

from jobs import config, store
from jobs.worker import run_job

BOOT_ID = str(uuid.uuid4())
# When this process started, on the database's clock: `/stats` counts only the jobs since then,
# so that rows an earlier run left behind do not count as work in flight now.
booted_at = None


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI):
    """Create the jobs table at start-up."""
    global booted_at
    store.create_schema()
    booted_at = store.now()
    yield


app = FastAPI(title="jobs", lifespan=lifespan)


def public(job: dict) -> dict:
    """A job as JSON: timestamps as ISO 8601 strings."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in job.items()}


@app.post("/jobs", status_code=201)
def submit(
    response: Response,
    payload: dict | None = None,
    idempotency_key: str = Header(),
) -> dict:
    job, created = store.insert(idempotency_key, payload or {})
    if not created:
        response.status_code = 200
        return public(job)
    # The row is committed first; if this raises, the client gets a 500 and the job stays
    # `queued` with no message behind it.
    run_job.delay(job["id"])
    return public(job)


@app.get("/jobs/{job_id}")
def read(job_id: int) -> dict:
    job = store.by_id(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    return public(job)


@app.get("/jobs")
def read_by_key(key: str) -> dict:
    return {"jobs": [public(job) for job in store.by_key(key)]}


@app.get("/stats")
def stats() -> dict:
    return store.counts(booted_at)


@app.get("/health")
def health() -> dict:
    return {"status": "ok", "boot_id": BOOT_ID}


@app.get("/health/ready")
def ready() -> dict:
    """Ready when both Postgres and the broker (as this process reaches it) answer."""
    try:
        store.ping()
        redis.Redis.from_url(config.BROKER_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except Exception as e:
        raise HTTPException(status_code=503, detail=f"not ready: {e}") from e
    return {"status": "ready"}
