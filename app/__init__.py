"""The Flask application factory."""
from __future__ import annotations

import logging

import redis
from flask import Flask

from .catalog import load_catalog
from .config import ConfigError, load_config
from .errors import register_error_handlers
from .extensions import db, migrate
from .jsonout import ExactJSONProvider


def create_app(config: dict | None = None) -> Flask:
    """Build the app from the environment; `config` overrides settings (tests use it)."""
    app = Flask(__name__)
    app.json_provider_class = ExactJSONProvider
    app.json = ExactJSONProvider(app)
    app.config.update(load_config())
    app.config.update(config or {})
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        raise ConfigError("no database: set DATABASE_URL, or start one with `make run`")
    logging.basicConfig(level=logging.INFO)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    _init_services(app)
    register_error_handlers(app)
    _register_blueprints(app)
    from .cli import register_cli
    register_cli(app)
    return app


def _init_services(app: Flask) -> None:
    from providers.registry import build_backends
    from workers.celery import celery_init_app

    app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"] or "redis://")
    app.extensions["backends"] = build_backends(load_catalog(), app.config)
    celery_init_app(app)


def _register_blueprints(app: Flask) -> None:
    from .blueprints import account, catalog, docs, files, health, jobs, openai_api, pages

    for module in (jobs, account, catalog, health, files, docs, pages, openai_api):
        app.register_blueprint(module.bp)
