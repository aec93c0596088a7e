"""The fuzz target: the app served over real HTTP on 127.0.0.1, on its own broker database
(no worker consumes it, so submitted jobs stay queued), with Stripe pointed at the double."""
from __future__ import annotations

import threading

import pytest
import redis
from werkzeug.serving import make_server

from providers.base import Result, Usage

FUZZ_REDIS_DB = 4


@pytest.fixture(scope="session")
def test_env(database_url, redis_url, stripe_api):
    from tests.stripe_double import SECRET_KEY, WEBHOOK_SECRET

    broker = redis_url.rsplit("/", 1)[0] + f"/{FUZZ_REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    return {"DATABASE_URL": database_url, "REDIS_URL": broker, "CELERY_BROKER_URL": broker,
            "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_api.url}


@pytest.fixture(scope="session")
def app(test_env):
    from app import create_app

    fuzz_app = create_app({
        "SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"], "REDIS_URL": test_env["REDIS_URL"],
        "CELERY_BROKER_URL": test_env["REDIS_URL"], "TESTING": True,
        "STRIPE_SECRET_KEY": test_env["STRIPE_SECRET_KEY"],
        "STRIPE_WEBHOOK_SECRET": test_env["STRIPE_WEBHOOK_SECRET"],
        "STRIPE_API_BASE": test_env["STRIPE_API_BASE"]})
    _fake_remote_backends(fuzz_app)
    return fuzz_app


class FakeProvider:
    """A provider SaaS that is configured and answers: no API keys here, and no network."""

    def __init__(self, name: str):
        self.name = name

    def availability(self, task: str) -> str | None:
        return None

    def run(self, call) -> Result:
        return Result(output={"text": "fuzzed"}, usage=Usage(input_tokens=1, output_tokens=1))


def _fake_remote_backends(app) -> None:
    """Every remote backend available, so generated jobs get past 503 no_backend to the
    hold and the queue (nobody consumes it) or, for /v1, run inline on the fake."""
    from app.catalog import load_catalog

    for key, spec in load_catalog().backends.items():
        if spec.adapter != "local":
            app.extensions["backends"][key] = FakeProvider(key)


@pytest.fixture
def live_server(app, db_session):
    """The base URL of the app served by a threaded werkzeug server; stopped afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
