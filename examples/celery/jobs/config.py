"""Settings, read from the environment once, with loopback defaults."""

import os

# The jobs table lives here.
DATABASE_URL = os.environ.get("JOBS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobs")

# Celery's broker. The gate gives the API a broker URL through its fault proxy, and the worker
# the real Redis.
BROKER_URL = os.environ.get("JOBS_BROKER_URL", "redis://127.0.0.1:6379/0")

# How long one job's work takes, in seconds.
WORK_SECONDS = float(os.environ.get("JOBS_WORK_SECONDS", "1"))
