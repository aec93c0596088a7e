"""The lease a worker holds on a claimed job, and the keeper that renews it."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text

log = logging.getLogger(__name__)
TICK_SECONDS = 0.25  # how often the keeper looks for a lease due for renewal


@dataclass
class _Held:
    engine: object
    lease: float
    renew_at: float


class LeaseKeeper:
    """Renews the leases of the jobs a worker process runs, every third of the lease, from
    one side thread.

    A short lease makes a killed worker's job come back quickly; renewing it keeps a long
    provider call from being handed to a second worker meanwhile. The thread serves job after
    job: it starts when a job is held and it is not running (in a new pool process, or after
    an idle tick), and ends at the first tick with nothing held. A thread per job cost a
    start and a join per job, a measurable share of a short job's CPU.
    """

    def __init__(self, tick: float = TICK_SECONDS):
        self.tick = tick
        self._held: dict[tuple, _Held] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, engine, job_id: uuid.UUID, delivery: int, lease_seconds: float):
        """Keep renewing the lease of this delivery of the job while the block runs."""
        key = (job_id, delivery)
        with self._lock:
            self._held[key] = _Held(engine, lease_seconds, time.monotonic() + lease_seconds / 3)
            if self._thread is None or not self._thread.is_alive():  # not alive: forked
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="lease-keeper")
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._held[key]

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            with self._lock:
                if not self._held:
                    self._thread = None  # under the lock: the next hold() starts a new one
                    return
                now = time.monotonic()
                due = [(key, held) for key, held in self._held.items() if held.renew_at <= now]
                for _key, held in due:
                    held.renew_at = now + held.lease / 3
            for (job_id, delivery), held in due:
                _renew(held.engine, job_id, delivery, held.lease)


def _renew(engine, job_id: uuid.UUID, delivery: int, lease: float) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => :secs) "
                "WHERE id = :id AND status = 'running' AND deliveries = :delivery"),
                {"secs": lease, "id": job_id, "delivery": delivery})
    except Exception:  # the next tick tries again; an expired lease only re-sends the job
        log.exception("could not renew the lease of job %s", job_id)
