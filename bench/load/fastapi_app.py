"""`just bench load`, the peer: the seeds' own stack, a FastAPI endpoint that
answers 202 after Celery `.delay()`, and the Celery task it queues.

Run the API with `uvicorn fastapi_app:app` (one process) and the worker with
`celery -A fastapi_app worker`; both read BENCH_REDIS_URL. Each run of the
task counts itself in the Redis hash `load:runs` under the job's id, so the
driver can check that every accepted job ran exactly once.
"""
import os
import uuid

import redis
from celery import Celery
from fastapi import FastAPI

url = os.environ["BENCH_REDIS_URL"]
celery = Celery("load", broker=url)
# Like Chorus's 202: the job is accepted, no result is kept.
celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True)
runs = redis.Redis.from_url(url)


@celery.task(name="noop")
def noop(job_id):
    runs.hincrby("load:runs", job_id, 1)


app = FastAPI()


@app.post("/jobs", status_code=202)
def submit(body: dict):
    job_id = uuid.uuid4().hex
    noop.delay(job_id)
    return {"id": job_id, "kind": body.get("kind")}
