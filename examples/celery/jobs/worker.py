"""The Celery app and its one task. Start a worker with `celery -A jobs.worker worker`.

The task is acknowledged late (`acks_late=True`): its message is acknowledged only after the
work is done, the usual advice for work that must not be lost. With Redis as the broker, a
message its worker took and never acknowledged is handed out again only after the broker's
visibility timeout (one hour by default), so a job whose worker is killed mid-work stays
`started` until then."""

import time

from celery import Celery

from jobs import config, store

app = Celery("jobs", broker=config.BROKER_URL)
app.conf.update(
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)


@app.task(name="jobs.run", acks_late=True)
def run_job(job_id: int) -> None:
    store.mark_started(job_id)
    time.sleep(config.WORK_SECONDS)
    store.mark_succeeded(job_id)
