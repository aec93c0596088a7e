"""Configuration: the only module that reads the environment.

Every setting has a safe development default; production mode (GPUBRIDGE_ENV=production)
refuses to start with a development default where a secret or a real service is needed.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_BACKENDS = ("GROQ", "DEEPINFRA", "FIREWORKS", "TOGETHER", "REPLICATE", "JINA", "RUNPOD")
DEV_SECRET_KEY = "dev-only-not-secret"
DEFAULT_WEBHOOK_SCHEDULE = "0,5,300,1800,7200,18000,36000"
STRIPE_DEFAULT_API_BASE = "https://api.stripe.com"
# USDC on Base, as the reference service uses it.
BASE_CHAIN_ID = 8453
BASE_USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration is unsafe or incomplete."""


def _var_dir(env) -> Path:
    return Path(env.get("GPUBRIDGE_VAR_DIR") or ROOT / "var")


def _embedded_services(env) -> dict[str, str]:
    """URLs written by `python -m devservices` for the embedded servers it started."""
    path = _var_dir(env) / "run" / "services.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def normalise_database_url(url: str) -> str:
    """SQLAlchemy reads bare postgresql:// as psycopg 3 only from 2.1 on; say it always."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(env, name: str, default: int) -> int:
    raw = env.get(name)
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env, name: str, default: float) -> float:
    """For delays and timeouts only. No setting here is money; an amount would be a decimal
    string through billing.money.parse_usd."""
    raw = env.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _pool_size(env) -> int:
    """PostgreSQL connections a process keeps open: by default one per web thread. With
    fewer (SQLAlchemy's default is 5), every burst past the pool opens connections and closes
    them on return, each a new server process that plans our SQL functions afresh: 18 to 55
    every 3 s of B1's load with 5 against 8 threads, 1 with 10."""
    size = _int(env, "GPUBRIDGE_DB_POOL_SIZE", _int(env, "GPUBRIDGE_WEB_THREADS", 8))
    if size < 1:
        raise ConfigError(f"GPUBRIDGE_DB_POOL_SIZE must be at least 1, got {size}")
    return size


def _prepare_threshold(env) -> int | None:
    """After how many runs on one connection psycopg prepares a statement (its default, 5);
    None for "off": a PgBouncer in transaction mode cannot hold prepared statements unless it
    is 1.21 or newer with max_prepared_statements set, and would send them to other sessions."""
    raw = (env.get("GPUBRIDGE_DB_PREPARE_THRESHOLD") or "").strip().lower()
    if raw == "off":
        return None
    threshold = _int(env, "GPUBRIDGE_DB_PREPARE_THRESHOLD", 5)
    if threshold < 0:
        raise ConfigError(f"GPUBRIDGE_DB_PREPARE_THRESHOLD must be 'off' or at least 0, "
                          f"got {threshold}")
    return threshold


def _names(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def _backends(env) -> dict[str, dict]:
    return {
        name.lower(): {"api_key": env.get(f"{name}_API_KEY") or None,
                       "base_url": env.get(f"{name}_BASE_URL") or None}
        for name in PROVIDER_BACKENDS
    }


def _x402(env) -> dict:
    """The chain, token and recipient of x402 payments and USDC top-ups (off without PAY_TO)."""
    return {
        "X402_RPC_URL": env.get("X402_RPC_URL") or "https://mainnet.base.org",
        "X402_CHAIN_ID": _int(env, "X402_CHAIN_ID", BASE_CHAIN_ID),
        "X402_NETWORK": env.get("GPUBRIDGE_X402_NETWORK") or "base",
        "X402_USDC_ADDRESS": env.get("X402_USDC_ADDRESS") or BASE_USDC,
        "X402_TOKEN_NAME": env.get("GPUBRIDGE_X402_TOKEN_NAME") or "USD Coin",
        "X402_TOKEN_VERSION": env.get("GPUBRIDGE_X402_TOKEN_VERSION") or "2",
        "X402_PAY_TO": env.get("X402_PAY_TO") or None,
        "X402_SANCTIONS_ORACLE": env.get("X402_SANCTIONS_ORACLE") or None,
        "X402_SETTLER_KEY": env.get("X402_SETTLER_KEY") or None,
        "X402_REQUIRE_SIGNATURE": _bool(env.get("GPUBRIDGE_X402_REQUIRE_SIGNATURE")),
        "X402_MAX_AGE_SECONDS": _int(env, "GPUBRIDGE_X402_MAX_AGE_SECONDS", 300),
        "X402_MAX_TIMEOUT_SECONDS": _int(env, "GPUBRIDGE_X402_MAX_TIMEOUT_SECONDS", 300),
        "CRYPTO_DEPOSIT_TTL_SECONDS": _int(env, "GPUBRIDGE_CRYPTO_DEPOSIT_TTL_SECONDS", 86400),
        "CRYPTO_WATCH_INTERVAL_SECONDS": _int(env, "GPUBRIDGE_CRYPTO_WATCH_INTERVAL_SECONDS", 30),
    }


def load_config(env=None) -> dict:
    """The Flask config mapping built from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    embedded = _embedded_services(env)
    database_url = env.get("DATABASE_URL") or embedded.get("DATABASE_URL")
    redis_url = env.get("REDIS_URL") or embedded.get("REDIS_URL")
    mode = env.get("GPUBRIDGE_ENV", "development")
    config = {
        "GPUBRIDGE_ENV": mode,
        "SECRET_KEY": env.get("GPUBRIDGE_SECRET_KEY") or DEV_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url) if database_url else None,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL") or redis_url,
        "PORT": _int(env, "PORT", 8000),
        "PUBLIC_BASE_URL": env.get("GPUBRIDGE_PUBLIC_BASE_URL") or None,
        "ALLOW_PRIVATE_URLS": _bool(env.get("GPUBRIDGE_ALLOW_PRIVATE_URLS")),
        "MAX_CONTENT_LENGTH": _int(env, "GPUBRIDGE_MAX_REQUEST_BYTES", 10 * 1024 * 1024),
        "JOB_LEASE_SECONDS": _int(env, "GPUBRIDGE_JOB_LEASE_SECONDS", 60),
        "JOB_MAX_DELIVERIES": _int(env, "GPUBRIDGE_JOB_MAX_DELIVERIES", 3),
        "BROKER_VISIBILITY_TIMEOUT": _int(env, "GPUBRIDGE_BROKER_VISIBILITY_TIMEOUT", 3600),
        "SWEEP_INTERVAL_SECONDS": _int(env, "GPUBRIDGE_SWEEP_INTERVAL_SECONDS", 30),
        "SETTLE_AFTER_SECONDS": _int(env, "GPUBRIDGE_SETTLE_AFTER_SECONDS", 30),
        "REQUEUE_AFTER_SECONDS": _int(env, "GPUBRIDGE_REQUEUE_AFTER_SECONDS", 60),
        "WEBHOOK_RETRY_SCHEDULE": env.get("GPUBRIDGE_WEBHOOK_RETRY_SCHEDULE")
        or DEFAULT_WEBHOOK_SCHEDULE,
        "WEBHOOK_TIMEOUT_SECONDS": _int(env, "GPUBRIDGE_WEBHOOK_TIMEOUT_SECONDS", 10),
        "WEBHOOK_INLINE_TIMEOUT_SECONDS": _float(env, "GPUBRIDGE_WEBHOOK_INLINE_TIMEOUT_SECONDS",
                                                 2.0),
        # A worker writes the rows of delivered final events in batches (app/webhook_log.py).
        "WEBHOOK_LOG_BATCH": _int(env, "GPUBRIDGE_WEBHOOK_LOG_BATCH", 10),
        "WEBHOOK_LOG_WAIT_SECONDS": _float(env, "GPUBRIDGE_WEBHOOK_LOG_WAIT_SECONDS", 0.25),
        "WEBHOOK_SECRET_GRACE_HOURS": _int(env, "GPUBRIDGE_WEBHOOK_SECRET_GRACE_HOURS", 24),
        "OUTPUT_RETENTION_HOURS": _int(env, "GPUBRIDGE_OUTPUT_RETENTION_HOURS", 24),
        "RETENTION_INTERVAL_SECONDS": _int(env, "GPUBRIDGE_RETENTION_INTERVAL_SECONDS", 600),
        "BACKENDS": _backends(env),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or STRIPE_DEFAULT_API_BASE,
        "DISABLED_BACKENDS": _names(env.get("GPUBRIDGE_DISABLED_BACKENDS")),
        "RETRY_ATTEMPTS": _int(env, "GPUBRIDGE_RETRY_ATTEMPTS", 2),
        "RETRY_BASE_DELAY_SECONDS": _float(env, "GPUBRIDGE_RETRY_BASE_DELAY_SECONDS", 0.5),
        "RETRY_MAX_DELAY_SECONDS": _float(env, "GPUBRIDGE_RETRY_MAX_DELAY_SECONDS", 8.0),
        "CALL_TIMEOUT_CAP_SECONDS": _float(env, "GPUBRIDGE_CALL_TIMEOUT_CAP_SECONDS", 0.0),
        "BREAKER_THRESHOLD": _int(env, "GPUBRIDGE_BREAKER_THRESHOLD", 5),
        "BREAKER_COOLDOWN_SECONDS": _float(env, "GPUBRIDGE_BREAKER_COOLDOWN_SECONDS", 30.0),
        **_x402(env),
        "RATE_LIMIT_PER_KEY": _int(env, "GPUBRIDGE_RATE_LIMIT_PER_KEY", 3000),
        "RATE_LIMIT_PER_ADDRESS": _int(env, "GPUBRIDGE_RATE_LIMIT_PER_ADDRESS", 6000),
        "RATE_LIMIT_WINDOW_SECONDS": _int(env, "GPUBRIDGE_RATE_LIMIT_WINDOW_SECONDS", 60),
        "PROXY_HOPS": _int(env, "GPUBRIDGE_PROXY_HOPS", 0),
        "LOG_LEVEL": (env.get("GPUBRIDGE_LOG_LEVEL") or "INFO").upper(),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_size": _pool_size(env),
            "connect_args": {"prepare_threshold": _prepare_threshold(env)}},
    }
    check_config(config)
    return config


def check_config(config: dict) -> None:
    """Refuse what production must not run with."""
    if config["GPUBRIDGE_ENV"] not in ("development", "production"):
        raise ConfigError("GPUBRIDGE_ENV must be 'development' or 'production'")
    if config["GPUBRIDGE_ENV"] != "production":
        return
    if config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise ConfigError("production needs GPUBRIDGE_SECRET_KEY")
    if config["ALLOW_PRIVATE_URLS"]:
        raise ConfigError("GPUBRIDGE_ALLOW_PRIVATE_URLS is for development only")
    if not config["SQLALCHEMY_DATABASE_URI"] or not config["REDIS_URL"]:
        raise ConfigError("production needs DATABASE_URL and REDIS_URL")
    if config["STRIPE_SECRET_KEY"] and not config["STRIPE_WEBHOOK_SECRET"]:
        # Checkout would take card payments whose credits could never arrive.
        raise ConfigError("STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET in production")
    if config["X402_PAY_TO"] and not config["X402_SANCTIONS_ORACLE"]:
        raise ConfigError("production takes USDC (X402_PAY_TO) only with X402_SANCTIONS_ORACLE")
