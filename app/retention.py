"""Retention: outputs and produced files are kept OUTPUT_RETENTION_HOURS after a job ends.

The job row, its attempts and its costs stay; only the output, the files and the copies of the
output in webhook bodies are removed.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

BATCH = 500


def purge_expired_outputs(session: Session, retention_hours: int) -> int:
    """Remove outputs of jobs finished more than `retention_hours` ago; how many jobs."""
    ids = session.execute(text(
        "UPDATE jobs SET output = NULL, output_expired_at = now(), updated_at = now() "
        "WHERE id IN (SELECT id FROM jobs WHERE output_expired_at IS NULL "
        "AND status IN ('completed', 'failed', 'cancelled') "
        "AND finished_at < now() - make_interval(hours => :hours) LIMIT :batch "
        "FOR UPDATE SKIP LOCKED) RETURNING id"),
        {"hours": retention_hours, "batch": BATCH}).scalars().all()
    if ids:
        session.execute(text("DELETE FROM stored_files WHERE job_id = ANY(:ids)"),
                        {"ids": list(ids)})
    # Webhook bodies carry the output too; once a delivery is finished its body goes as well.
    session.execute(text(
        "UPDATE webhook_deliveries d SET payload = NULL FROM jobs j WHERE d.job_id = j.id "
        "AND j.output_expired_at IS NOT NULL AND d.status <> 'pending' "
        "AND d.payload IS NOT NULL"))
    session.commit()
    return len(ids)
