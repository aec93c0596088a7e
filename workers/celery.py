"""The Celery app, built from the Flask app (Flask's documented Celery pattern)."""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from app.logs import connect_worker_signals

from .queues import celery_queues


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks run inside `app`'s context; keep it in extensions."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        task_queues=celery_queues(),
        task_default_queue="text",
        task_routes={"workers.settle_job": {"queue": "billing"},
                     "workers.sweep": {"queue": "billing"}},
        # At-least-once: ack after the task ran, redeliver if the worker dies mid-task.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        beat_schedule={"sweep": {"task": "workers.sweep",
                                 "schedule": float(app.config["SWEEP_INTERVAL_SECONDS"])}},
        worker_hijack_root_logger=False,
    )
    connect_worker_signals()
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
