"""What follows a job's final statement in the worker that ran it (workers/final.py).

That statement ends and settles the job at once. Then come its waiters' wake-up, its auto
top-up, its final webhook (written here, with its first attempt made here when the receiver
has been quick) and the budget alerts. A job the statement could not settle goes to the
settle task instead, which does all of that once it has settled the job. A worker killed
after the final statement leaves a settled job without its event; the lifecycle sweep writes
and sends it (notifications.missing_final_events).

`JobHealth` is the backend health a job runs with: it folds the job's own Redis writes (its
start's wake-up, its call's success) into round trips the job makes anyway.
"""
from __future__ import annotations

from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

from app import lifecycle, notifications, webhook_signing, webhooks
from app.dbpool import autocommit
from app.status import public_base, status_object

from .final import Final


class JobHealth:
    """The shared backend health (providers.health) as one job's run uses it, with the job's
    own Redis writes folded into round trips it makes anyway (each round trip costs the
    worker 0.1 to 0.2 ms of CPU): the waiters' wake-up for its start goes with the read of
    its chain's breakers, and its call's success with the round trip that follows its final
    statement (`after_final`). Failures still go to Redis at once."""

    def __init__(self, health, job_id):
        self.health, self.job_id = health, job_id
        self.success: tuple[str, float] | None = None

    def states(self, backends):
        return self.health.states(backends, also=lambda pipe: lifecycle.notify_in(
            pipe, self.job_id))

    def allow(self, backend, read=None): return self.health.allow(backend, read)
    def failed(self, backend): self.health.failed(backend)
    def latencies(self): return self.health.latencies()

    def succeeded(self, backend: str, seconds: float) -> None:
        self.success = (backend, seconds)

    def record_in(self, pipe) -> None:
        if self.success is not None:
            self.health.succeeded_in(pipe, *self.success)

    def record_now(self) -> None:
        """For a job that ended without `after_final` (another delivery took it over)."""
        if self.success is not None:
            self.health.succeeded(*self.success)


def after_final(session: Session, services, ended: Final,
                health: JobHealth | None = None) -> None:
    """Wake the job's waiters (and record its backend's success), then send its auto top-up,
    final webhook and budget alerts; or, if it was not settled, the settle task that will do
    all that."""
    job = ended.job
    here = notifications.job_ended(services, job.id, job.webhook_url,
                                   health.record_in if health is not None else None)
    if not ended.settled:
        services.celery.send_task("workers.settle_job", args=[str(job.id)], queue="billing")
        return
    if ended.auto_topup_id is not None:
        services.celery.send_task("workers.auto_topup", args=[ended.auto_topup_id],
                                  queue="billing")
    if job.webhook_url:
        _final_event(session, services, ended, here)
    if job.alerts:
        notifications.budget_alerts(session, services, job.account_id)


# The final event's delivery row and the signing secrets in one statement, not two (a psycopg
# pipeline of two costs the client about what the two do one by one; README, B3): one row
# per secret, current first, one with a NULL secret if the account has none yet, and no row
# if the event exists.
_WRITE_EVENT = (f"WITH written AS ({webhooks.INSERT}) SELECT written.*, s.secret, s.current "
                f"FROM written LEFT JOIN LATERAL ({webhook_signing.SIGNING}) s ON true "
                "ORDER BY s.current DESC")


def _final_event(session: Session, services, ended: Final, here: bool) -> None:
    """Write the final event's delivery, claimed for a first attempt `here` or pending for the
    webhooks workers; read the signing secrets in the same statement."""
    job, config = ended.job, services.config
    event_type = webhooks.FINAL_EVENTS[job.status]
    body = status_object(session, job, public_base(config), config["OUTPUT_RETENTION_HOURS"],
                         ended.attempts)
    lease = config["WEBHOOK_INLINE_TIMEOUT_SECONDS"] + webhooks.LEASE_GRACE_SECONDS
    params = webhooks.insert_params(
        job.account_id, job.id, webhooks.job_event_key(job.id, event_type), event_type,
        job.webhook_url, webhooks.envelope(event_type, body), lease if here else None)
    with autocommit(session.get_bind()) as connection:
        rows = connection.cursor(row_factory=namedtuple_row).execute(
            _WRITE_EVENT, params).fetchall()
    if not rows:  # the event exists already: someone else sends it
        return
    row = rows[0]
    if not here:
        webhooks.send(services.celery, row.id)
        return
    found = [(r.secret, r.current) for r in rows if r.secret is not None]
    secrets = webhook_signing.from_rows(session, job.account_id, found)
    if not webhook_signing.has_current(found):
        session.commit()  # the account's first secret, which from_rows wrote
    notifications.first_attempt(session, services, row, secrets)
