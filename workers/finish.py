"""What follows a job's final statement in the worker that ran it (workers/final.py).

That statement ends and settles the job at once. Then come its waiters' wake-up, its auto
top-up, its final webhook (its first attempt made here when the receiver has been quick, then
its row written) and the budget alerts. A job the statement could not settle goes to the
settle task instead, which does all of that once it has settled the job. A worker killed
after the final statement and before the event's row leaves a settled job without its event;
the lifecycle sweep writes and sends it (notifications.missing_final_events).

`JobHealth` is the backend health a job runs with: it folds the job's own Redis writes (its
start's wake-up, its call's success) into round trips the job makes anyway.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from app import lifecycle, notifications, webhook_signing, webhooks
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
        return self.health.states(backends, also=(lifecycle.notify_command(self.job_id),))

    def allow(self, backend, read=None): return self.health.allow(backend, read)
    def failed(self, backend): self.health.failed(backend)
    def latencies(self): return self.health.latencies()

    def succeeded(self, backend: str, seconds: float) -> None:
        self.success = (backend, seconds)

    def commands(self) -> tuple:
        """What the job's end sends with its own round trip: its call's success."""
        return () if self.success is None else (self.health.succeeded_command(*self.success),)

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
                                   health.commands() if health is not None else ())
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


def _final_event(session: Session, services, ended: Final, here: bool) -> None:
    """Send the final event: its first attempt made `here`, then its row written with the
    attempt logged; or its row written pending, for the webhooks workers."""
    job, config = ended.job, services.config
    event_type = webhooks.FINAL_EVENTS[job.status]
    body = status_object(session, job, public_base(config), config["OUTPUT_RETENTION_HOURS"],
                         ended.attempts)
    event = webhooks.insert_params(
        job.account_id, job.id, webhooks.job_event_key(job.id, event_type), event_type,
        job.webhook_url, webhooks.envelope(event_type, body))
    if not here:
        if (delivery_id := webhooks.record_event(session.get_bind(), event)) is not None:
            webhooks.send(services.celery, delivery_id)
        return
    signing = job.signing  # read with the job's end; None if the account has no secret yet
    if signing is None:
        signing = webhook_signing.signing_secrets(session, job.account_id)
        session.commit()  # the account's first secret
    notifications.first_attempt(session, services, event, signing)
