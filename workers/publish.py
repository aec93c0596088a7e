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
import functools
import json
import os
import socket

import redis

from app.redis_direct import DirectRedis

from .broker import transport_for

RUN_JOB = "workers.run_job"
HOST = socket.gethostname()  # once: the hot path should not ask the kernel every time


def run_job_message(job_id: str, queue: str, origin: str) -> str:
    """The broker message of workers.run_job(job_id) for `queue`, as kombu's Redis transport
    stores it (priority 0: the queue's own list)."""
    body = _BODY % {"job_id": _json_text(job_id)}
    return _MESSAGE % {"body": base64.b64encode(body.encode()).decode(),
                       "task_id": random_uuid(), "delivery_tag": random_uuid(),
                       "argsrepr": _json_text(repr([job_id])), "origin": _named(origin),
                       "queue": _named(queue)}


def random_uuid() -> str:
    """A random (version 4) UUID as text, as str(uuid.uuid4()) writes one, at a fifth of its
    cost: uuid.UUID's constructor checks what needs no checking here."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _json_text(text: str) -> str:
    """`text` as it stands between the quotes of a JSON string."""
    return json.dumps(text)[1:-1]


@functools.lru_cache(maxsize=256)
def _named(name: str) -> str:
    """_json_text of a queue's or a process's name: a few of them, each sent many times."""
    return _json_text(name)


def _template(document) -> str:
    """`document` as JSON in which each "%(name)s" string takes a %-format value: written
    once, so that a message costs one string format, not the JSON encoding of its thirty-odd
    fields (which was most of the cost of sending a job)."""
    written = json.dumps(document)
    if written.count("%") != written.count("%("):
        raise ValueError("a constant of the message holds a %")
    return written


# Celery's task protocol 2 (args, kwargs, embed) and kombu's envelope, as send_task writes them.
_BODY = _template([["%(job_id)s"], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                       "chord": None}])
_MESSAGE = _template({
    "body": "%(body)s",
    "content-encoding": "utf-8",
    "content-type": "application/json",
    "headers": {
        "lang": "py", "task": RUN_JOB, "id": "%(task_id)s", "shadow": None, "eta": None,
        "expires": None, "group": None, "group_index": None, "retries": 0,
        "timelimit": [None, None], "root_id": "%(task_id)s", "parent_id": None,
        "argsrepr": "%(argsrepr)s", "kwargsrepr": "{}", "origin": "%(origin)s",
        "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None,
        "stamps": {}},
    "properties": {
        "correlation_id": "%(task_id)s", "reply_to": "", "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": "%(queue)s"}, "priority": 0,
        "body_encoding": "base64", "delivery_tag": "%(delivery_tag)s"},
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
