"""Shared fixtures: a fresh PostgreSQL database per test session, Redis, the app, workers.

`make test` starts embedded servers and exports DATABASE_URL / REDIS_URL; run pytest directly
with those set to use other servers. Tests that need them fail under CI=true when they are
missing, and skip on a laptop.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from app.config import normalise_database_url

REDIS_TEST_DB = 1  # keep the developer's db 0 untouched


def _need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        message = f"{name} is not set (run `make test`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return value


@pytest.fixture(scope="session")
def database_url():
    """A new, migrated database on the configured server, dropped after the session."""
    base = sa.engine.make_url(normalise_database_url(_need("DATABASE_URL")))
    name = f"gpubridge_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def redis_url():
    import redis

    url = _need("REDIS_URL").rstrip("/")
    url = url.rsplit("/", 1)[0] if url.rsplit("/", 1)[-1].isdigit() else url
    url = f"{url}/{REDIS_TEST_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def stripe_api():
    """A local Stripe double for the whole session; worker processes are pointed at it."""
    from tests.stripe_double import StripeDouble

    double = StripeDouble().start()
    yield double
    double.stop()


@pytest.fixture(scope="session")
def test_env(database_url, redis_url, stripe_api) -> dict:
    """The environment worker processes and the app share."""
    from tests.stripe_double import SECRET_KEY, WEBHOOK_SECRET

    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url, "GPUBRIDGE_ALLOW_PRIVATE_URLS": "true",
            "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_api.url}


@pytest.fixture(scope="session")
def app(test_env):
    from app import create_app

    session_app = create_app({
        "SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
        "REDIS_URL": test_env["REDIS_URL"], "CELERY_BROKER_URL": test_env["REDIS_URL"],
        "ALLOW_PRIVATE_URLS": True, "TESTING": True,
        # Each delivered final event's row at once: tests read it right after the job.
        "WEBHOOK_LOG_BATCH": 1,
    })
    # Tasks called in-process (settle_job(...), sweeps) run in this app, whatever other
    # apps a test builds, as in a worker process.
    session_app.extensions["celery"].set_default()
    return session_app


@pytest.fixture
def db_session(app):
    """The app's session inside an app context; every table emptied afterwards."""
    from app.extensions import db

    # Tasks called in-process run in this test's app, even after another suite's session
    # app (tests/reliability) was made the default.
    app.extensions["celery"].set_default()
    with app.app_context():
        yield db.session
        db.session.rollback()
        _empty_tables(db)


def _empty_tables(db, tries: int = 5) -> None:
    """TRUNCATE every table. A worker process may still be finishing a job a test left
    behind; its transaction and the TRUNCATE's table locks can deadlock, and PostgreSQL then
    aborts one of them: if it is ours, take the locks again."""
    tables = ", ".join(t.name for t in db.metadata.sorted_tables)
    for attempt in range(tries):
        try:
            db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
            return
        except sa.exc.OperationalError as exc:
            db.session.rollback()
            if "deadlock" not in str(exc) or attempt == tries - 1:
                raise


@pytest.fixture
def client(app, db_session):
    return app.test_client()
