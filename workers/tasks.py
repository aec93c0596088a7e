"""Celery tasks: thin wrappers that decode ids and call the logic in execute.py / billing."""
from __future__ import annotations

import uuid

from celery import shared_task
from flask import current_app

from app.catalog import load_catalog
from app.extensions import db
from billing import crypto_topup
from billing.chain import Chain, ChainConfig
from billing.settlement import settle_job as settle

from . import execute
from .sweeper import sweep as sweep_jobs


@shared_task(name="workers.run_job")
def run_job(job_id: str) -> str | None:
    """Claim and run one job, then ask the billing worker to settle it."""
    config = current_app.config
    claimed = execute.claim(db.session, uuid.UUID(job_id), config["JOB_LEASE_SECONDS"],
                            config["JOB_MAX_DELIVERIES"])
    if claimed is None:
        return None  # a duplicate delivery, or the job is already final
    status = execute.execute(db.session, load_catalog(), current_app.extensions["backends"],
                             claimed)
    if status is not None:
        settle_job.delay(job_id)
    return status


@shared_task(name="workers.settle_job")
def settle_job(job_id: str) -> bool:
    """Settle a finished job; True if this delivery did it."""
    return settle(db.session, load_catalog(), uuid.UUID(job_id)) is not None


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
