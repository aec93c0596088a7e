"""The Flask application factory."""
from __future__ import annotations

import functools
import logging

import redis
from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from .catalog import load_catalog
from .config import ConfigError, load_config
from .dbpool import keep_autocommit, replace_dead_connections
from .errors import register_error_handlers
from .extensions import db, migrate
from .guards import init_guards
from .jsonout import ExactJSONProvider
from .logs import configure_logging, init_request_logging
from .metrics import init_metrics
from .ratelimit import init_rate_limits
from .redis_direct import DirectRedis


def create_app(config: dict | None = None) -> Flask:
    """Build the app from the environment; `config` overrides settings (tests use it)."""
    app = ApiFlask(__name__)
    app.json_provider_class = ExactJSONProvider
    app.json = ExactJSONProvider(app)
    app.session_interface = NoSessions()
    app.config.update(load_config())
    app.config.update(config or {})
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        raise ConfigError("no database: set DATABASE_URL, or start one with `make run`")
    configure_logging(logging.getLevelName(app.config["LOG_LEVEL"]))
    if app.config["PROXY_HOPS"]:  # behind N reverse proxies: trust their X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"])
    db.init_app(app)
    with app.app_context():
        replace_dead_connections(db.engine)
        keep_autocommit(db.engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}))
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    _init_services(app)
    register_error_handlers(app)
    init_request_logging(app)
    init_rate_limits(app)
    init_guards(app)
    init_metrics(app)
    _register_blueprints(app)
    from .cli import register_cli
    register_cli(app)
    return app


class ApiFlask(Flask):
    """Flask, with its check of whether a view or hook is a coroutine made once per function:
    Flask asks `inspect` of each of the nine a `POST /run` runs, on every request (2% of the
    web's instructions for one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Bounded: a callback made for one request (after_this_request) must not pile up.
        self._ensured = functools.lru_cache(maxsize=256)(super().ensure_sync)

    def ensure_sync(self, func):
        return self._ensured(func)


class NoSessions(SessionInterface):
    """The API sets no cookies: every request gets Flask's null session. The default cookie
    session builds a signing serializer on every request, 11 to 18 µs of a POST /run."""

    def open_session(self, app, request):
        return None  # Flask then makes its null session

    def save_session(self, app, session, response):
        pass  # never called for a null session


def _init_services(app: Flask) -> None:
    from providers.health import BackendHealth, BreakerPolicy
    from providers.registry import build_backends
    from workers.celery import celery_init_app

    app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"] or "redis://")
    app.extensions["redis_direct"] = DirectRedis(app.extensions["redis"])
    app.extensions["backends"] = build_backends(load_catalog(), app.config)
    app.extensions["stripe"] = _stripe_client(app.config)
    app.extensions["backend_health"] = BackendHealth(app.extensions["redis"], BreakerPolicy(
        app.config["BREAKER_THRESHOLD"], app.config["BREAKER_COOLDOWN_SECONDS"]),
        app.extensions["redis_direct"])
    celery_init_app(app)


def _stripe_client(config):
    """The Stripe client, or None when card payments are not configured (no secret key)."""
    from billing.stripe_payments import make_client

    if not config.get("STRIPE_SECRET_KEY"):
        return None
    return make_client(config["STRIPE_SECRET_KEY"], config["STRIPE_API_BASE"])


def _register_blueprints(app: Flask) -> None:
    from .blueprints import (account, catalog, docs, files, health, jobs, lifecycle,
                             openai_api, pages, payments, webhooks, x402)

    for module in (jobs, account, catalog, health, files, payments, lifecycle, webhooks, x402,
                   docs, pages, openai_api):
        app.register_blueprint(module.bp)
