"""Production mode refuses development secrets and a missing database."""
import pytest

from app.config import ConfigError, load_config

PRODUCTION = {"GPUBRIDGE_ENV": "production", "GPUBRIDGE_SECRET_KEY": "s3cret-from-the-vault",
              "DATABASE_URL": "postgresql://db/app", "REDIS_URL": "redis://cache/0"}


@pytest.fixture
def env(tmp_path):
    # An empty var dir, so the embedded servers' URLs of this checkout are not picked up.
    return {**PRODUCTION, "GPUBRIDGE_VAR_DIR": str(tmp_path)}


def test_production_starts_with_real_settings(env):
    assert load_config(env)["GPUBRIDGE_ENV"] == "production"


@pytest.mark.parametrize("change,complaint", [
    ({"GPUBRIDGE_SECRET_KEY": ""}, "GPUBRIDGE_SECRET_KEY"),
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ({"REDIS_URL": ""}, "REDIS_URL"),
    ({"GPUBRIDGE_ALLOW_PRIVATE_URLS": "true"}, "GPUBRIDGE_ALLOW_PRIVATE_URLS"),
])
def test_production_refuses_development_settings(env, change, complaint):
    with pytest.raises(ConfigError, match=complaint):
        load_config({**env, **change})


def test_development_defaults_and_rate_limit_settings(tmp_path):
    config = load_config({"GPUBRIDGE_VAR_DIR": str(tmp_path),
                          "GPUBRIDGE_RATE_LIMIT_PER_KEY": "7"})
    assert config["RATE_LIMIT_PER_KEY"] == 7 and config["RATE_LIMIT_PER_ADDRESS"] > 0
    with pytest.raises(ConfigError):
        load_config({"GPUBRIDGE_VAR_DIR": str(tmp_path), "GPUBRIDGE_RATE_LIMIT_PER_KEY": "x"})


def test_the_database_pool_keeps_one_connection_per_web_thread(tmp_path):
    def pool_size(**settings) -> int:
        config = load_config({"GPUBRIDGE_VAR_DIR": str(tmp_path), **settings})
        return config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"]
    assert pool_size() == 8  # the Procfile's default GPUBRIDGE_WEB_THREADS
    assert pool_size(GPUBRIDGE_WEB_THREADS="12") == 12
    assert pool_size(GPUBRIDGE_WEB_THREADS="12", GPUBRIDGE_DB_POOL_SIZE="3") == 3
    with pytest.raises(ConfigError, match="GPUBRIDGE_DB_POOL_SIZE"):
        pool_size(GPUBRIDGE_DB_POOL_SIZE="0")


def test_statements_are_prepared_after_five_runs_unless_turned_off(tmp_path):
    def threshold(**settings):
        config = load_config({"GPUBRIDGE_VAR_DIR": str(tmp_path), **settings})
        return config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["prepare_threshold"]
    assert threshold() == 5  # psycopg's own default
    assert threshold(GPUBRIDGE_DB_PREPARE_THRESHOLD="0") == 0
    assert threshold(GPUBRIDGE_DB_PREPARE_THRESHOLD=" Off ") is None
    for wrong in ("-1", "never"):
        with pytest.raises(ConfigError, match="GPUBRIDGE_DB_PREPARE_THRESHOLD"):
            threshold(GPUBRIDGE_DB_PREPARE_THRESHOLD=wrong)
