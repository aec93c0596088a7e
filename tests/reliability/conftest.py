"""Reliability scenarios run on a broker database of their own, so that no other test's worker
(the integration suite's session worker) takes their jobs or survives their kills."""
import pytest
import redis

RELIABILITY_REDIS_DB = 3


@pytest.fixture(scope="session")
def test_env(database_url, redis_url):
    broker = redis_url.rsplit("/", 1)[0] + f"/{RELIABILITY_REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    return {"DATABASE_URL": database_url, "REDIS_URL": broker, "CELERY_BROKER_URL": broker,
            "GPUBRIDGE_ALLOW_PRIVATE_URLS": "true"}


@pytest.fixture(scope="session")
def app(test_env):
    from app import create_app

    reliability_app = create_app({
        "SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"], "REDIS_URL": test_env["REDIS_URL"],
        "CELERY_BROKER_URL": test_env["REDIS_URL"], "ALLOW_PRIVATE_URLS": True, "TESTING": True})
    reliability_app.extensions["celery"].set_default()
    return reliability_app
