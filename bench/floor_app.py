"""The floors of B1 and B3: the least a job API keeping DESIGN's invariant 2 (a 202 means the
job's row is committed) must do, with nothing of ours in it.

B1's floor is the bare route plus one committed row: a POST parses its JSON body, inserts a
row keyed by a new id into a table with only its primary key, and sends one Celery task.
B3's floor task runs such a row the shortest way the pipeline's definition allows: claim it
(one conditional UPDATE), call the provider emulator, end it (one UPDATE), and POST a webhook
to the receiver. No key, validation, price, hold, ledger, limit, breaker, attempt record,
signature or delivery log: what `POST /run` and a job cost above these floors is what those
are. Both talk to PostgreSQL through one psycopg connection per thread or process.
"""
import json
import os
import threading
import uuid

import psycopg
import urllib3
from celery import Celery
from flask import Flask, request
from psycopg.types.json import Jsonb

DATABASE_URL = os.environ["FLOOR_DATABASE_URL"]  # a libpq URL; common.floor_env made its table
app = Flask(__name__)
celery = Celery("floor", broker=os.environ["REDIS_URL"])
celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True)
_local = threading.local()
_http = urllib3.PoolManager()


def connection() -> psycopg.Connection:
    if not hasattr(_local, "connection"):
        _local.connection = psycopg.connect(DATABASE_URL, autocommit=True)
    return _local.connection


def insert_job(data) -> str:
    job_id = uuid.uuid4()
    connection().execute("INSERT INTO bench_floor_jobs (id, input) VALUES (%s, %s)",
                         (job_id, Jsonb(data)))
    return str(job_id)


@app.post("/run")
def run():
    job_id = insert_job(request.get_json())
    celery.send_task("bench.noop", args=[job_id], queue="bench-bare")
    return {"job_id": job_id}, 202


@celery.task(name="bench.floor_job")
def floor_job(job_id: str, webhook_url: str) -> None:
    claimed = connection().execute(
        "UPDATE bench_floor_jobs SET status = 'running' WHERE id = %s AND status = 'queued' "
        "RETURNING input", (job_id,)).fetchone()
    if claimed is None:
        return
    answer = _post(os.environ["GROQ_BASE_URL"] + "/chat/completions", {
        "model": "llama-3.3-70b-versatile", "max_tokens": claimed[0]["max_tokens"],
        "messages": [{"role": "user", "content": claimed[0]["prompt"]}]},
        {"Authorization": "Bearer " + os.environ["GROQ_API_KEY"]})
    output = {"text": answer["choices"][0]["message"]["content"]}
    connection().execute(
        "UPDATE bench_floor_jobs SET status = 'completed', output = %s "
        "WHERE id = %s AND status = 'running'", (Jsonb(output), job_id))
    _post(webhook_url, {"id": job_id, "status": "completed", "output": output})


def _post(url: str, body: dict, headers: dict | None = None):
    response = _http.request("POST", url, body=json.dumps(body).encode(), timeout=10,
                             headers={"Content-Type": "application/json", **(headers or {})})
    if response.status >= 300:
        raise RuntimeError(f"POST {url}: {response.status}")
    return json.loads(response.data) if response.data else None
