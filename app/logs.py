"""Structured JSON logs: one object per line with request_id and job_id, secrets scrubbed.

The web sets request_id per request (X-Request-ID when the client sends a sane one) and
job_id when a request is about one job; a worker sets job_id from its task's argument and
uses the Celery task id as request_id. API keys, webhook secrets and payment proofs are never
logged on purpose; the scrubber is the second line of defence.
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import sys
import time

from flask import Flask, request

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                           default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
# The request's start, for its access line: a context variable, as the ids are, read for a
# tenth of what flask.g costs through its proxy.
_started_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("started",
                                                                          default=None)
ACCESS_LOG = logging.getLogger("gpubridge.access")
SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECRETS = (
    (re.compile(r"gpub_[A-Za-z0-9_-]+"), "gpub_[redacted]"),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_[redacted]"),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]+"), r"\1_\2_[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(x-payment[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9+/=_-]+"), r"\1[redacted]"),
)


# Text that each of SECRETS needs, lowercased: a line holding none of them (most lines, and
# every access line but a careless one) skips the five patterns.
MARKERS = ("gpub_", "whsec_", "_live_", "_test_", "bearer", "x-payment")


def scrub(text: str) -> str:
    """The text with anything that looks like a key, secret or payment proof replaced."""
    lowered = text.lower()
    if not any(marker in lowered for marker in MARKERS):
        return text
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the request and job it belongs to."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": f"{_second(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name,
            "message": scrub(record.getMessage()),
            "request_id": request_id_var.get(), "job_id": job_id_var.get(),
        }
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return _ENCODER.encode(entry)


_ENCODER = json.JSONEncoder(default=str)  # one for every line: json.dumps(default=) makes one


@functools.lru_cache(maxsize=4)
def _second(epoch_second: int) -> str:
    """The UTC time of a log line to the second; the lines of one second share it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


class _Stderr:
    """Whatever sys.stderr is at write time (test runners swap it)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or _Stderr())
    handler.setFormatter(JsonFormatter())
    handler.set_name("gpubridge-json")
    return handler


def configure_logging(level: int = logging.INFO) -> None:
    """Make the root logger write JSON lines (once per process)."""
    root = logging.getLogger()
    if any(h.get_name() == "gpubridge-json" for h in root.handlers):
        return
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:  # basicConfig's plain text handler
            root.removeHandler(handler)
    root.addHandler(json_handler())
    root.setLevel(level)
    # What a record collects that no JSON line shows (the logging HOWTO's "Optimization"):
    # the caller's file and line, found by walking the stack, and the thread's and the
    # multiprocessing process's names. The process id stays: gunicorn's own lines show it.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # we log each request ourselves


def _begin_request():
    given = request.headers.get("X-Request-ID", "")
    request_id_var.set(given if SAFE_ID.match(given) else os.urandom(16).hex())  # as uuid4().hex
    _started_var.set(time.monotonic())
    job_id = (request.view_args or {}).get("job_id")
    job_id_var.set(str(job_id) if job_id else None)


def _end_request(response):
    response.headers["X-Request-ID"] = request_id_var.get() or ""
    path = request.path
    if not path.startswith("/static"):
        started, method, status = _started_var.get(), request.method, response.status_code
        elapsed = 1000 * (time.monotonic() - started) if started is not None else 0.0
        ACCESS_LOG.info("%s %s %s", method, path, status, extra={
            "method": method, "path": path, "status": status, "duration_ms": round(elapsed, 2)})
    return response


def _forget_request(exc) -> None:
    request_id_var.set(None)
    job_id_var.set(None)
    _started_var.set(None)


def init_request_logging(app: Flask) -> None:
    app.before_request(_begin_request)
    app.after_request(_end_request)
    app.teardown_request(_forget_request)


def connect_worker_signals() -> None:
    """Give every log line of a Celery task its job id (the task's first argument)."""
    from celery.signals import task_postrun, task_prerun

    @task_prerun.connect(weak=False, dispatch_uid="gpubridge-logs-prerun")
    def _start(task_id=None, args=None, **kwargs):
        request_id_var.set(task_id)
        job_id_var.set(str(args[0]) if args else None)

    @task_postrun.connect(weak=False, dispatch_uid="gpubridge-logs-postrun")
    def _end(**kwargs):
        request_id_var.set(None)
        job_id_var.set(None)
