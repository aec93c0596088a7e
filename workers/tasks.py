"""Celery tasks: thin wrappers that decode ids and call the logic in execute.py / billing."""
from __future__ import annotations

import uuid

import stripe
from celery import shared_task
from flask import current_app

from app import lifecycle, notifications
from app.catalog import load_catalog
from app.extensions import db
from billing import auto_topup as auto_topups
from billing import crypto_topup
from billing.chain import Chain, ChainConfig
from billing.settlement import settle_job as settle
from providers.router import RetryPolicy

from . import execute, finish
from .sweeper import sweep as sweep_jobs


def retry_policy(config) -> RetryPolicy:
    """The router's retry policy from the app's settings."""
    return RetryPolicy(attempts_per_backend=config["RETRY_ATTEMPTS"],
                       base_delay=config["RETRY_BASE_DELAY_SECONDS"],
                       max_delay=config["RETRY_MAX_DELAY_SECONDS"],
                       max_call_seconds=config["CALL_TIMEOUT_CAP_SECONDS"])


@shared_task(name="workers.run_job")
def run_job(job_id: str) -> str | None:
    """Claim and run one job; end and settle it in one statement, then make the first
    attempt of its final webhook (workers/final.py, workers/finish.py)."""
    config = current_app.config
    services = notifications.Services.of(current_app)
    claimed = execute.claim(db.session, uuid.UUID(job_id), config["JOB_LEASE_SECONDS"],
                            config["JOB_MAX_DELIVERIES"])
    if claimed is None:
        if lifecycle.abort_if_expired(db.session, uuid.UUID(job_id)):  # Cancel-After passed
            _settle_and_announce(job_id)
            return "cancelled"
        return None  # a duplicate delivery, or the job is already final
    notifications.job_started(db.session, services, claimed.job_id, claimed.wants_started)
    health = finish.JobHealth(current_app.extensions["backend_health"], claimed.job_id)
    ended = execute.execute(db.session, load_catalog(), current_app.extensions["backends"],
                            claimed, config["JOB_LEASE_SECONDS"], retry_policy(config),
                            health, settle=True, leases=current_app.extensions["lease_keeper"])
    if ended is None:
        health.record_now()
        return None
    finish.after_final(db.session, services, ended, health)
    return ended.status


@shared_task(name="workers.settle_job")
def settle_job(job_id: str) -> bool:
    """Settle a job left final but unsettled (failed by the sweeper, aborted past its
    deadline, or its worker could not settle it), then send its final webhook and any auto
    top-up it armed; True if this delivery settled it."""
    return _settle_and_announce(job_id)


def _settle_and_announce(job_id: str) -> bool:
    result = settle(db.session, load_catalog(), uuid.UUID(job_id))
    if result is not None and result.auto_topup_id is not None:
        auto_topup.delay(result.auto_topup_id)
    # Also on a redelivery: the event's unique key makes this a no-op once it exists.
    notifications.job_settled(db.session, notifications.Services.of(current_app),
                              uuid.UUID(job_id))
    return result is not None


@shared_task(name="workers.auto_topup", autoretry_for=(stripe.StripeError,),
             retry_backoff=True, max_retries=5)
def auto_topup(topup_id: int) -> str:
    """Charge the saved card for one armed auto top-up (Stripe's idempotency key makes a
    retry or redelivery the same charge)."""
    client = current_app.extensions.get("stripe")
    if client is None:
        return "not_configured"
    return auto_topups.run(db.session, client, topup_id)


@shared_task(name="workers.sweep")
def sweep() -> dict:
    """Re-send work the broker lost: stale queued jobs, expired leases, unsettled jobs."""
    return sweep_jobs(db.session, current_app.config, current_app.extensions["celery"])


@shared_task(name="workers.watch_crypto_deposits")
def watch_crypto_deposits() -> list[int]:
    """Credit USDC top-ups whose transfers are confirmed (beat); the deposit ids credited."""
    if not current_app.config["X402_PAY_TO"]:
        return []
    chain = Chain(ChainConfig.from_app_config(current_app.config))
    return crypto_topup.watch(db.session, chain)
