"""Fixtures for the billing tests: the Stripe double, a fake LLM backend, real concurrency."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from billing.stripe_payments import make_client
from providers.base import Result, Usage
from tests.stripe_double import SECRET_KEY, WEBHOOK_SECRET, StripeDouble

LLM = {"service": "llm-4090", "input": {"prompt": "hi"}}  # list estimate $0.003
VISION = {"service": "llava-4090",  # list estimate $0.05
          "input": {"image_url": "data:image/png;base64,iVBORw0KGgo=", "prompt": "what?"}}


class AlwaysAvailable:
    """A provider backend that can serve any task here; these tests never run the jobs."""

    name = "groq"

    def availability(self, task: str) -> str | None:
        return None

    def run(self, call) -> Result:
        return Result(output={"text": "ok"}, usage=Usage(input_tokens=1, output_tokens=1))


@pytest.fixture
def fake_backend(app, monkeypatch):
    """Groq (first in llm-4090's and llava-4090's chains) available, for this test only."""
    monkeypatch.setitem(app.extensions["backends"], "groq", AlwaysAvailable())


@pytest.fixture
def stripe_double(app, monkeypatch):
    """The local Stripe double, with the app's Stripe client and webhook secret pointed at it."""
    double = StripeDouble().start()
    monkeypatch.setitem(app.extensions, "stripe", make_client(SECRET_KEY, double.url))
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    yield double
    double.stop()


def concurrently(count: int, action) -> list:
    """Run `action(i)` on `count` threads released together; their results in order.

    Each request through the test client pushes its own app context, so every thread has its
    own database session and connection.
    """
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def count(session, sql: str, **params) -> int:
    return session.execute(text(f"SELECT count(*) FROM {sql}"), params).scalar()
