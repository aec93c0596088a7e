"""The Celery app, built from the Flask app (Flask's documented Celery pattern)."""
from __future__ import annotations

from celery import Celery, Task
from celery.signals import worker_process_shutdown, worker_shutdown
from flask import Flask

from app.logs import connect_worker_signals
from app.webhook_log import DeliveredLog

from .broker import transport_for
from .lease import LeaseKeeper
from .publish import JobPublisher
from .queues import celery_queues


def _transport_options(visibility_timeout: int) -> dict:
    """Redis transport options: look for lapsed unacked messages every tenth of the timeout
    (kombu's default is every ~100 s whatever the timeout)."""
    return {"visibility_timeout": visibility_timeout,
            "unacked_restore_interval": max(1, min(60, visibility_timeout // 10)),
            "unacked_restore_throttle": 1}


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks run inside `app`'s context; keep it in extensions."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    # Not made "current": a process may build several apps (tests do), and a task proxy must
    # never pick one up by accident. The worker entry point makes its app the default.
    celery = Celery(app.name, task_cls=FlaskTask, set_as_current=False)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        broker_transport=transport_for(app.config["CELERY_BROKER_URL"]),
        task_ignore_result=True,
        task_queues=celery_queues(),
        task_default_queue="text",
        task_routes={"workers.settle_job": {"queue": "billing"},
                     "workers.auto_topup": {"queue": "billing"},
                     "workers.sweep": {"queue": "billing"},
                     "workers.deliver_webhook": {"queue": "webhooks"},
                     "workers.sweep_lifecycle": {"queue": "webhooks"},
                     "workers.purge_outputs": {"queue": "billing"},
                     "workers.watch_crypto_deposits": {"queue": "billing"}},
        # At-least-once: ack after the task ran, redeliver if the worker dies mid-task.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # Redis redelivers an unacked message after this; a redelivery of a running job finds
        # its lease held and does nothing, so a short value costs only a wasted message.
        broker_transport_options=_transport_options(app.config["BROKER_VISIBILITY_TIMEOUT"]),
        beat_schedule={"sweep": {"task": "workers.sweep",
                                 "schedule": float(app.config["SWEEP_INTERVAL_SECONDS"])},
                       "sweep-lifecycle": {"task": "workers.sweep_lifecycle",
                                           "schedule": float(app.config["SWEEP_INTERVAL_SECONDS"])},
                       "purge-outputs": {"task": "workers.purge_outputs", "schedule": float(
                           app.config["RETENTION_INTERVAL_SECONDS"])},
                       "watch-crypto-deposits": {
                           "task": "workers.watch_crypto_deposits",
                           "schedule": float(app.config["CRYPTO_WATCH_INTERVAL_SECONDS"])}},
        worker_hijack_root_logger=False,
        # Our JSON handler writes to stderr; a redirected stderr would feed it back to logging.
        worker_redirect_stdouts=False,
    )
    connect_worker_signals()
    app.extensions["celery"] = celery
    app.extensions["job_publisher"] = JobPublisher(celery, app.config["CELERY_BROKER_URL"])
    app.extensions["lease_keeper"] = LeaseKeeper()  # its thread starts in the pool process
    app.extensions["delivered_log"] = _delivered_log(app)
    return celery


def _delivered_log(app: Flask) -> DeliveredLog:
    """The process's batch of delivered final events, written when it shuts down too (a
    prefork pool process, or a worker whose tasks run in its main process)."""
    for signal in (worker_process_shutdown, worker_shutdown):
        signal.connect(lambda **_: app.extensions["delivered_log"].flush(), weak=False,
                       dispatch_uid=f"gpubridge-delivered-log-{id(app)}")
    return DeliveredLog(app.config["WEBHOOK_LOG_BATCH"], app.config["WEBHOOK_LOG_WAIT_SECONDS"])
