"""Queueing a job for its workers: on a Redis broker, one LPUSH of the message Celery sends.

Celery's send_task costs POST /run about a millisecond of CPU (routing, a pooled producer,
the queue declaration, argument reprs, retry wrappers): as much as the rest of the request's
own work. On a Redis broker a task message is one JSON document pushed on the queue's list:
kombu's envelope around Celery's task protocol 2. So the web process writes that document
itself. On any other broker, send_task sends the job. tests/integration/test_publish.py
holds our document to the one send_task writes.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import uuid

import redis

from app.redis_direct import DirectRedis

from .broker import transport_for

RUN_JOB = "workers.run_job"
HOST = socket.gethostname()  # once: the hot path should not ask the kernel every time
NO_WORKFLOW = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def run_job_message(job_id: str, queue: str, origin: str) -> str:
    """The broker message of workers.run_job(job_id) for `queue`, as kombu's Redis transport
    stores it (priority 0: the queue's own list)."""
    task_id = str(uuid.uuid4())
    body = json.dumps([[job_id], {}, NO_WORKFLOW]).encode()
    return json.dumps({
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": RUN_JOB, "id": task_id, "shadow": None, "eta": None,
            "expires": None, "group": None, "group_index": None, "retries": 0,
            "timelimit": [None, None], "root_id": task_id, "parent_id": None,
            "argsrepr": repr([job_id]), "kwargsrepr": "{}", "origin": origin,
            "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None,
            "stamps": {}},
        "properties": {
            "correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4())},
    })


def _plain_redis(celery, broker_url: str) -> bool:
    """A Redis broker with kombu's plain key layout (a global key prefix moves the lists)."""
    if transport_for(broker_url) is None:
        return False
    return not (celery.conf.broker_transport_options or {}).get("global_keyprefix")


class JobPublisher:
    """Sends workers.run_job messages: a direct LPUSH on Redis (app/redis_direct.py),
    send_task elsewhere."""

    def __init__(self, celery, broker_url: str):
        self.celery = celery
        self.redis = DirectRedis(redis.Redis.from_url(broker_url)) \
            if _plain_redis(celery, broker_url) else None

    def send(self, job_id: str, queue: str) -> None:
        if self.redis is None:
            self.celery.send_task(RUN_JOB, args=[job_id], queue=queue)
            return
        origin = f"gen{os.getpid()}@{HOST}"  # names the sending process, as Celery's does
        (pushed,) = self.redis.execute([("LPUSH", queue, run_job_message(job_id, queue, origin))])
        if isinstance(pushed, Exception):
            raise pushed
