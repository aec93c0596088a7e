"""The sweeper: the database is the source of truth, so anything stuck there is sent again."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.auto_topup import stale_pending

from .execute import fail_exhausted

def _stale_queued(session: Session, after: int) -> list[tuple]:
    """Queued jobs nobody claimed for `after` seconds; touched so the next sweep waits again."""
    rows = session.execute(text(
        "UPDATE jobs SET updated_at = now() WHERE status = 'queued' "
        "AND updated_at < now() - make_interval(secs => :after) RETURNING id, family"),
        {"after": after}).all()
    session.commit()
    return rows


def _expired_leases(session: Session, max_deliveries: int) -> list[tuple]:
    return session.execute(text(
        "SELECT id, family FROM jobs WHERE status = 'running' AND lease_expires_at < now() "
        "AND deliveries < :max"), {"max": max_deliveries}).all()


def _unsettled(session: Session, grace: int) -> list:
    """Final jobs whose settle message has not done its work within `grace` seconds."""
    return session.execute(text(
        "SELECT id FROM jobs WHERE settled_at IS NULL "
        "AND status IN ('completed', 'failed', 'cancelled') "
        "AND finished_at < now() - make_interval(secs => :grace)"),
        {"grace": grace}).scalars().all()


def sweep(session: Session, config, celery) -> dict:
    """Re-send lost work; returns how many jobs of each kind it sent."""
    rerun = _stale_queued(session, config["REQUEUE_AFTER_SECONDS"])
    rerun += _expired_leases(session, config["JOB_MAX_DELIVERIES"])
    failed = fail_exhausted(session, config["JOB_MAX_DELIVERIES"])
    unsettled = _unsettled(session, config["SETTLE_AFTER_SECONDS"])
    for job_id, family in rerun:
        celery.send_task("workers.run_job", args=[str(job_id)], queue=family)
    for job_id in set(unsettled) | set(failed):
        celery.send_task("workers.settle_job", args=[str(job_id)], queue="billing")
    topups = stale_pending(session, config["REQUEUE_AFTER_SECONDS"])
    for topup_id in topups:  # armed, but its message may be lost
        celery.send_task("workers.auto_topup", args=[topup_id], queue="billing")
    return {"rerun": len(rerun), "failed": len(failed), "settle": len(set(unsettled) | set(failed)),
            "auto_topup": len(topups)}
