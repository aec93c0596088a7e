"""GET /metrics in the Prometheus text format.

Request counts live in Redis (every web process on every host adds its counts to the same
hash about once a second); jobs, latencies and money are read from PostgreSQL at scrape time,
so every replica reports the same numbers and nothing is lost on restart.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from flask import Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)
from sqlalchemy import text

from workers.queues import QUEUES, broker_depths

from .extensions import db

log = logging.getLogger(__name__)
REQUESTS_KEY = "gpubridge:metrics:requests"
JOB_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)
PROVIDER_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
FLUSH_SECONDS = 1.0


class RequestCounts:
    """Request counts of this process, added to the shared Redis hash at most once every
    `every` seconds in one pipeline, so counting costs a request no round trip. A scrape
    flushes first; what other processes counted in their last second shows at the next one,
    and a process that stops loses at most its last second of counts."""

    def __init__(self, redis, every: float = FLUSH_SECONDS, clock=time.monotonic):
        self.redis, self.every, self.clock = redis, every, clock
        self._lock = threading.Lock()
        self._pending: Counter = Counter()
        self._due = clock() + every

    def add(self, field: str) -> None:
        with self._lock:
            self._pending[field] += 1
            if self.clock() < self._due:
                return
        self.flush()

    def flush(self) -> None:
        """Add what this process counted to Redis; on failure keep it for the next try."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._due = self.clock() + self.every
        if not pending:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for field, count in pending.items():
                pipe.hincrby(REQUESTS_KEY, field, count)
            pipe.execute()
        except Exception:  # metrics must not break the API when Redis is down
            log.warning("could not add request counts to Redis; keeping them")
            with self._lock:
                self._pending.update(pending)


def count_request(response):
    """after_request: count one (method, route, status); never fail the request."""
    matched = request.url_rule
    rule = matched.rule if matched else "unmatched"
    if not rule.startswith("/static"):
        current_app.extensions["request_counts"].add(
            f"{request.method} {rule} {response.status_code}")
    return response


def _requests():
    family = CounterMetricFamily("gpubridge_http_requests", "HTTP requests by route and status",
                                 labels=("method", "route", "status"))
    current_app.extensions["request_counts"].flush()
    for field, value in current_app.extensions["redis"].hgetall(REQUESTS_KEY).items():
        method, route, status = field.decode().split(" ")
        family.add_metric((method, route, status), int(value))
    return family


def _jobs():
    family = CounterMetricFamily("gpubridge_jobs", "Jobs by service and status",
                                 labels=("service", "status"))
    rows = db.session.execute(text(
        "SELECT service, status, count(*) FROM jobs GROUP BY service, status")).all()
    for service, status, count in rows:
        family.add_metric((service, status), count)
    return family


def _histogram(name: str, doc: str, label: str, sql: str, buckets) -> HistogramMetricFamily:
    """A histogram of `seconds` per `key` from rows (key, seconds), bucketed in SQL."""
    counts = ", ".join(f"count(*) FILTER (WHERE seconds <= {bound})" for bound in buckets)
    rows = db.session.execute(text(
        f"SELECT key, {counts}, count(*), COALESCE(sum(seconds), 0) FROM ({sql}) s "
        "GROUP BY key")).all()
    family = HistogramMetricFamily(name, doc, labels=(label,))
    for row in rows:
        cumulative = [(str(bound), row[i + 1]) for i, bound in enumerate(buckets)]
        cumulative.append(("+Inf", row[len(buckets) + 1]))
        family.add_metric((row[0],), cumulative, sum_value=float(row[-1]))
    return family


def _latencies():
    yield _histogram(
        "gpubridge_job_duration_seconds", "Run time of finished jobs, by service", "service",
        "SELECT service AS key, EXTRACT(EPOCH FROM finished_at - started_at) AS seconds "
        "FROM jobs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL", JOB_BUCKETS)
    yield _histogram(
        "gpubridge_provider_call_seconds", "Backend call time, by backend", "backend",
        "SELECT backend AS key, seconds FROM job_attempts", PROVIDER_BUCKETS)


def _provider_outcomes():
    family = CounterMetricFamily("gpubridge_provider_calls", "Backend calls by outcome",
                                 labels=("backend", "outcome"))
    rows = db.session.execute(text(
        "SELECT backend, outcome, count(*) FROM job_attempts GROUP BY backend, outcome")).all()
    for backend, outcome, count in rows:
        family.add_metric((backend, outcome), count)
    return family


def _breaker_state(name: str) -> str:
    """closed | open | half_open from the shared breakers, when the app keeps them."""
    health = current_app.extensions.get("backend_health")
    return health.state(name).get("state", "closed") if health is not None else "closed"


def _backends():
    available = GaugeMetricFamily(
        "gpubridge_backend_available",
        "1 when the backend is configured here and its circuit breaker is not open",
        labels=("backend",))
    breaker = GaugeMetricFamily("gpubridge_backend_breaker_open",
                                "1 while the backend's circuit breaker is open",
                                labels=("backend",))
    for name, backend in current_app.extensions["backends"].items():
        configured = any(backend.availability(task) is None for task in _tasks_of(name))
        is_open = _breaker_state(name) == "open"
        available.add_metric((name,), int(configured and not is_open))
        breaker.add_metric((name,), int(is_open))
    return available, breaker


def _tasks_of(backend: str) -> set[str]:
    from .catalog import load_catalog

    return {step.task for service in load_catalog().services.values()
            for step in service.chain if step.backend == backend}


def _money():
    # Integer micro-USD: a float64 holds them exactly up to $9 billion.
    family = CounterMetricFamily("gpubridge_money_micro_usd",
                                 "Money moved, by ledger transaction kind (micro-USD)",
                                 labels=("kind",))
    rows = db.session.execute(text(
        "SELECT t.kind, COALESCE(sum(e.amount), 0) FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.transaction_id = t.id AND e.amount > 0 GROUP BY t.kind"
    )).all()
    found = dict(rows)
    for kind in sorted(set(found) | {"hold", "capture", "refund"}):
        family.add_metric((kind,), int(found.get(kind, 0)))
    return family


def _queues():
    family = GaugeMetricFamily("gpubridge_queue_depth", "Messages waiting per queue",
                               labels=("queue",))
    depths, _reason = broker_depths(current_app.extensions["celery"],
                                    current_app.extensions["redis"])
    for name in QUEUES:
        if depths.get(name) is not None:
            family.add_metric((name,), depths[name])
    return family


class ScrapeCollector:
    """Reads everything at scrape time, inside the request's app context."""

    def collect(self):
        yield _requests()
        yield _jobs()
        yield from _latencies()
        yield _provider_outcomes()
        yield from _backends()
        yield _money()
        yield _queues()


def metrics_view():
    """Prometheus metrics: requests, jobs, latencies, providers, queues, money."""
    registry = current_app.extensions["metrics_registry"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


def init_metrics(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector())
    app.extensions["metrics_registry"] = registry
    app.extensions["request_counts"] = RequestCounts(app.extensions["redis"])
    app.after_request(count_request)
    app.add_url_rule("/metrics", "metrics", metrics_view)
