"""The SDK and the CLI against the real app, served over HTTP, with a real worker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
import requests

import gpubridge
from gpubridge import Client
from gpubridge.cli import main
from tests.helpers import grant, register
from tests.integration.conftest import ROOT
from tests.integration.live import live_server  # noqa: F401  (fixture)
from tests.needs import require_module


@pytest.fixture
def funded(app, client, live_server):
    key = register(client, "sdk@example.com")
    grant(app, "sdk@example.com", "3")
    return Client(live_server, key, backoff=0.01)


def test_run_waits_for_the_result_and_balance_agrees(client, funded, worker):
    require_module("tokenizers")
    job = funded.run("embedding-l4", {"text": ["hello", "world"]}, timeout=60, poll_interval=0.2)
    assert job["status"] == "completed" and job["output"]["dimensions"] == 384
    assert isinstance(job["cost_usd"], Decimal)
    assert funded.balance()["balance"] == Decimal("3") - job["cost_usd"]
    assert funded.status(job["job_id"])["job_id"] == job["job_id"]
    assert funded.jobs()["jobs"][0]["job_id"] == job["job_id"]


def test_estimate_and_typed_errors(client, live_server, funded):
    assert funded.estimate("tts-l4")["estimated_cost_usd"] == Decimal("0.02")
    with pytest.raises(gpubridge.InvalidRequestError) as unknown:
        funded.submit("no-such-service", {})
    assert "embedding-l4" in unknown.value.body["available_services"]
    with pytest.raises(gpubridge.InvalidRequestError) as missing:
        funded.submit("embedding-l4", {})
    assert missing.value.code == "missing_field"
    with pytest.raises(gpubridge.AuthenticationError):
        Client(live_server, "gpub_wrong").balance()
    with pytest.raises(gpubridge.NotFoundError):
        funded.status("00000000-0000-0000-0000-000000000000")
    broke = Client(live_server, register(client, "broke@example.com"))
    with pytest.raises(gpubridge.InsufficientCreditsError) as short:
        broke.submit("embedding-l4", {"text": "hi"})  # a backend without system tools
    assert short.value.body["required_usd"] == Decimal("0.01")
    with pytest.raises(gpubridge.ConnectionFailed):
        Client("http://127.0.0.1:9", "k", max_retries=1, sleep=lambda s: None).balance()


class FlakyAdapter(requests.adapters.HTTPAdapter):
    """The network dropping the first `failures` requests after the server got them."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures
        self.keys: list[str | None] = []

    def send(self, request, **kwargs):
        self.keys.append(request.headers.get("Idempotency-Key"))
        response = super().send(request, **kwargs)
        if self.failures:
            self.failures -= 1
            raise requests.ConnectionError("connection reset")
        return response


def test_retries_send_the_same_idempotency_key(live_server, funded):
    flaky = FlakyAdapter(failures=2)
    funded.session.mount(live_server, flaky)
    accepted = funded.submit("embedding-l4", {"text": "hi"})
    assert accepted["status"] == "queued"
    assert len(flaky.keys) == 3 and len(set(flaky.keys)) == 1 and flaky.keys[0]


def test_cli_run_status_follow_and_balance(live_server, funded, worker, capsys):
    require_module("tokenizers")
    base = ["--base-url", live_server, "--api-key", funded.api_key]
    assert main([*base, "run", "embedding-l4", "--text", "hello", "--no-wait"]) == 0
    job_id = json.loads(capsys.readouterr().out)["job_id"]
    assert main([*base, "status", job_id, "--follow"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "completed"
    assert "100% completed" in captured.err and "[####" in captured.err
    assert main([*base, "run", "embedding-l4", "--text", "hello", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["dimensions"] == 384
    assert main([*base, "balance"]) == 0
    balance = funded.balance()["balance"]
    assert f"balance      ${balance}" in capsys.readouterr().out
    assert main([*base, "run", "nope", "--text", "x"]) == 3
    assert "unknown_service" in capsys.readouterr().err


def test_console_script_is_installed(live_server, funded):
    env = {**os.environ, "GPUBRIDGE_BASE_URL": live_server, "GPUBRIDGE_API_KEY": funded.api_key}
    done = subprocess.run([sys.executable, "-m", "gpubridge", "balance", "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Decimal(json.loads(done.stdout)["balance"]) == Decimal("3")
