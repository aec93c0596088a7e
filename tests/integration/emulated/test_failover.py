"""Failover, routing and breakers on real worker processes, with providers on the emulator."""
from decimal import Decimal

from billing import ledger
from tests.helpers import auth, data, grant, register, settled
from tests.integration.conftest import wait_for
from tests.integration.emulated.conftest import BREAKER_COOLDOWN, BREAKER_THRESHOLD

LLM = {"service": "llm-4090", "input": {"prompt": "hello", "max_tokens": 16}}
VQA = {"service": "llava-4090", "input": {"image_url": "data:image/png;base64,iVBORw0KGgo="}}


def _account(emu_app, client, email):
    key = register(client, email)
    grant(emu_app, email, "5")
    return key


def _run(client, key, body, priority=None):
    headers = {**auth(key), **({"X-Priority": priority} if priority else {})}
    accepted = client.post("/run", json=body, headers=headers)
    assert accepted.status_code == 202, accepted.get_json()
    return wait_for(lambda: settled(client, accepted.get_json()["job_id"]), timeout=60)


def _trail(job):
    return [(a["backend"], a["outcome"], a["error_class"]) for a in job["attempts"]]


def test_primary_500_fails_over_to_the_secondary(emu_app, emu_client, emulator, db_session):
    key = _account(emu_app, emu_client, "f500@example.com")
    emulator.fault("groq", "status", status=500)
    job = _run(emu_client, key, LLM)
    assert job["status"] == "completed", job
    assert _trail(job) == [("groq", "retryable", "UpstreamError"),
                           ("groq", "retryable", "UpstreamError"), ("deepinfra", "ok", None)]
    assert job["output"]["text"].startswith("[deepinfra:meta-llama/Llama-3.3-70B")
    assert job["usage"]["input_tokens"] > 0 and job["cost_usd"] > 0
    assert ledger.check(db_session) == []


def test_primary_timeout_fails_over_to_the_secondary(emu_app, emu_client, emulator):
    key = _account(emu_app, emu_client, "timeout@example.com")
    emulator.fault("groq", "hang", seconds=5, times=2)
    job = _run(emu_client, key, LLM)
    assert job["status"] == "completed", job
    assert _trail(job) == [("groq", "retryable", "ProviderTimeout"),
                           ("groq", "retryable", "ProviderTimeout"), ("deepinfra", "ok", None)]


def test_every_backend_down_fails_the_job_with_a_full_refund(emu_app, emu_client, emulator,
                                                             db_session):
    key = _account(emu_app, emu_client, "down@example.com")
    emulator.fault("*", "status", status=503)
    job = _run(emu_client, key, LLM)
    assert job["status"] == "failed" and job["error"]["code"] == "backends_failed"
    assert [a["backend"] for a in job["attempts"]] == \
        ["groq", "groq", "deepinfra", "deepinfra", "fireworks", "fireworks", "together",
         "together"]
    assert job["cost_usd"] == 0 and job["refund_amount_usd"] == job["estimated_cost_usd"]
    assert data(emu_client.get("/account/balance", headers=auth(key)))["balance"] == \
        Decimal("5")
    assert ledger.check(db_session) == []


def test_bad_input_400_fails_at_once_with_the_providers_message(emu_app, emu_client, emulator):
    key = _account(emu_app, emu_client, "bad@example.com")
    emulator.fault("groq", "status", status=400, message="context length exceeded")
    job = _run(emu_client, key, LLM)
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    assert "context length exceeded" in job["error"]["message"]
    assert _trail(job) == [("groq", "permanent", "PermanentProviderError")]
    assert len(emulator.requests("deepinfra")) == 0
    assert job["refund_amount_usd"] == job["estimated_cost_usd"]


def test_429_is_retried_on_the_same_backend(emu_app, emu_client, emulator):
    key = _account(emu_app, emu_client, "429@example.com")
    emulator.fault("groq", "status", status=429, retry_after=0.2, times=1)
    job = _run(emu_client, key, LLM)
    assert _trail(job) == [("groq", "retryable", "RateLimited"), ("groq", "ok", None)]


def test_priority_cheap_and_fast_pick_different_first_backends(emu_app, emu_client):
    key = _account(emu_app, emu_client, "prio@example.com")
    # deepinfra is the cheapest step of llm-4090; fireworks has been the quickest lately.
    emu_app.extensions["redis"].hset("gpub:latency", mapping={"groq": 0.9, "deepinfra": 0.8,
                                                              "fireworks": 0.05})
    cheap = _run(emu_client, key, LLM, "cheap")
    fast = _run(emu_client, key, LLM, "fast")
    plain = _run(emu_client, key, LLM)
    assert [j["attempts"][0]["backend"] for j in (cheap, fast, plain)] == \
        ["deepinfra", "fireworks", "groq"]


def _breaker(client, backend):
    return client.get("/health").get_json()["breakers"][backend]


def test_breaker_opens_for_every_worker_then_probes_after_the_cool_down(
        emu_app, emu_client, emulator):
    key = _account(emu_app, emu_client, "breaker@example.com")
    emulator.fault("groq", "status", status=500)
    # emu-text runs llm-4090: two failed calls, then the third opens groq's breaker.
    first, second = _run(emu_client, key, LLM), _run(emu_client, key, LLM)
    assert [a["outcome"] for a in first["attempts"]] == ["retryable", "retryable", "ok"]
    assert _trail(second)[:2] == [("groq", "retryable", "UpstreamError"),
                                  ("groq", "skipped", "CircuitOpen")]
    assert _breaker(emu_client, "groq")["state"] == "open"
    calls = len(emulator.requests("groq"))
    assert calls == BREAKER_THRESHOLD

    # emu-media, another process, runs llava-4090 (groq first): it skips groq too.
    other = _run(emu_client, key, VQA)
    assert _trail(other) == [("groq", "skipped", "CircuitOpen"), ("together", "ok", None)]
    assert len(emulator.requests("groq")) == calls

    # After the cool-down one probe goes through; it succeeds and closes the breaker.
    emulator.reset()
    wait_for(lambda: _breaker(emu_client, "groq")["state"] == "half_open",
             timeout=BREAKER_COOLDOWN + 10)
    probed = _run(emu_client, key, VQA)
    assert _trail(probed) == [("groq", "ok", None)]
    assert _breaker(emu_client, "groq")["state"] == "closed"
