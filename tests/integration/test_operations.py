"""Operations: Prometheus metrics, JSON logs with no secrets, rate limits shared in Redis."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from tests.helpers import auth, grant, register, settled
from tests.integration.conftest import wait_for
from tests.needs import require_binary, require_module


def _metrics(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_report_requests_jobs_latency_queues_and_money(app, client, db_session, worker):
    require_module("tokenizers")
    key = register(client, "metrics@example.com")
    grant(app, "metrics@example.com", "1")
    job_id = client.post("/run", json={"service": "embedding-l4", "input": {"text": "hi"}},
                         headers=auth(key)).get_json()["job_id"]
    wait_for(lambda: settled(client, job_id))
    found = _metrics(client)
    assert found[("gpubridge_http_requests_total",
                  (("method", "POST"), ("route", "/run"), ("status", "202")))] >= 1
    assert found[("gpubridge_jobs_total",
                  (("service", "embedding-l4"), ("status", "completed")))] == 1
    assert found[("gpubridge_job_duration_seconds_count", (("service", "embedding-l4"),))] == 1
    assert found[("gpubridge_provider_call_seconds_count", (("backend", "local"),))] == 1
    assert found[("gpubridge_provider_calls_total",
                  (("backend", "local"), ("outcome", "ok")))] == 1
    assert ("gpubridge_queue_depth", (("queue", "image"),)) in found
    assert found[("gpubridge_backend_available", (("backend", "local"),))] == 1
    assert found[("gpubridge_backend_available", (("backend", "replicate"),))] == 0
    assert found[("gpubridge_backend_breaker_open", (("backend", "local"),))] == 0
    sums = dict(db_session.execute(text(
        "SELECT t.kind, sum(e.amount) FROM ledger_transactions t JOIN ledger_entries e "
        "ON e.transaction_id = t.id AND e.amount > 0 GROUP BY t.kind")).all())
    for kind in ("hold", "capture", "refund", "grant"):
        assert found[("gpubridge_money_micro_usd_total", (("kind", kind),))] == sums.get(kind, 0)
    assert sums["hold"] == sums["capture"] + sums.get("refund", 0)


@pytest.fixture
def json_logs():
    from app.logs import json_handler

    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_logs_are_json_with_ids_and_never_hold_secrets(app, client, json_logs):
    require_binary("espeak-ng")  # the tts-l4 job's local backend
    key = register(client, "logs@example.com")
    grant(app, "logs@example.com", "1")
    proof = "eyJ0eEhhc2giOiIweGFiYyIsImZyb20iOiIweGRlZiJ9"
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    accepted = client.post("/run", json={"service": "tts-l4", "input": {"text": "hi"}},
                           headers={**auth(key), "X-Payment": proof, "X-Request-ID": "req-42"})
    job_id = accepted.get_json()["job_id"]
    assert accepted.headers["X-Request-ID"] == "req-42"
    client.get("/account/balance", headers=auth("gpub_wrong_key_value"))
    # A careless log call elsewhere in the code must still not leak them.
    logging.getLogger("careless").warning("auth=Bearer %s X-Payment: %s secret=%s",
                                          key, proof, secret)
    output = json_logs.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines and all({"request_id", "job_id", "level", "message"} <= set(e) for e in lines)
    run_lines = [e for e in lines if e.get("path") == "/run"]
    assert run_lines[0]["request_id"] == "req-42" and run_lines[0]["job_id"] == job_id
    for leaked in (key, key[5:], proof, secret, "gpub_wrong_key_value"):
        assert leaked not in output


def test_each_request_has_an_id_in_its_header_and_its_access_line(client, json_logs):
    refused = client.get("/health", headers={"X-Request-ID": "not a safe id!"})
    other = client.get("/health")
    made = [response.headers["X-Request-ID"] for response in (refused, other)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", found) for found in made) and made[0] != made[1]
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "gpubridge.access"]
    assert [line["request_id"] for line in access] == made
    assert all(line["path"] == "/health" and line["duration_ms"] >= 0 for line in access)


def test_rate_limit_per_key_is_shared_between_processes_through_redis(app, client, test_env):
    from app import create_app

    key = register(client, "limited@example.com")
    settings = {"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
                "REDIS_URL": test_env["REDIS_URL"], "CELERY_BROKER_URL": test_env["REDIS_URL"],
                "RATE_LIMIT_PER_KEY": 3, "RATE_LIMIT_PER_ADDRESS": 0,
                "RATE_LIMIT_WINDOW_SECONDS": 120}
    first, second = create_app(settings).test_client(), create_app(settings).test_client()
    redis = app.extensions["redis"]
    for stale in redis.scan_iter("gpubridge:rl:key:*"):
        redis.delete(stale)
    assert first.get("/account/balance", headers=auth(key)).status_code == 200
    assert second.get("/account/balance", headers=auth(key)).status_code == 200
    assert first.get("/account/balance", headers=auth(key)).status_code == 200
    refused = second.get("/account/balance", headers=auth(key))
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 120
    assert refused.get_json()["code"] == "rate_limited" and refused.get_json()["hint"]
    other = register(client, "unlimited@example.com")  # another key is not affected
    assert first.get("/account/balance", headers=auth(other)).status_code == 200


def test_both_limits_are_counted_at_once_and_either_refuses(app, client, test_env):
    from app import create_app

    first, second = register(client, "twice@example.com"), register(client, "other@example.com")
    redis = app.extensions["redis"]
    for stale in redis.scan_iter("gpubridge:rl:*"):
        redis.delete(stale)
    web = create_app({"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
                      "REDIS_URL": test_env["REDIS_URL"], "RATE_LIMIT_PER_KEY": 2,
                      "RATE_LIMIT_PER_ADDRESS": 3, "RATE_LIMIT_WINDOW_SECONDS": 120}).test_client()
    statuses = [web.get("/account/balance", headers=auth(first)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the key's limit
    assert web.get("/account/balance", headers=auth(second)).status_code == 429  # the address's
    counters = list(redis.scan_iter("gpubridge:rl:*"))
    assert len(counters) == 3 and all(0 < redis.ttl(key) <= 120 for key in counters)
    for stale in counters:
        redis.delete(stale)


def test_requests_are_served_when_the_limits_redis_is_down(test_env):
    from app import create_app

    web = create_app({"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
                      "REDIS_URL": "redis://127.0.0.1:1/0", "RATE_LIMIT_PER_KEY": 1,
                      "RATE_LIMIT_PER_ADDRESS": 1}).test_client()
    assert [web.get("/v1/models").status_code for _ in range(3)] == [200, 200, 200]


def test_rate_limit_per_address_answers_openai_shape_under_v1(app, test_env):
    from app import create_app

    redis = app.extensions["redis"]
    for stale in redis.scan_iter("gpubridge:rl:addr:*"):
        redis.delete(stale)
    limited = create_app({"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
                          "REDIS_URL": test_env["REDIS_URL"], "RATE_LIMIT_PER_KEY": 0,
                          "RATE_LIMIT_PER_ADDRESS": 2, "RATE_LIMIT_WINDOW_SECONDS": 120})
    web = limited.test_client()
    assert [web.get("/v1/models").status_code for _ in range(2)] == [200, 200]
    refused = web.get("/v1/models")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.get_json()["error"]["type"] == "rate_limit_error"
    assert web.get("/health").status_code in (200, 503)  # health is never rate limited
    for stale in redis.scan_iter("gpubridge:rl:addr:*"):
        redis.delete(stale)
