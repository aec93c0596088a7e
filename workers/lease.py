"""The lease a worker holds on a claimed job, and the heartbeat that renews it."""
from __future__ import annotations

import threading
import uuid

from sqlalchemy import text


class Heartbeat:
    """Renews a claimed job's lease from a side thread while the job runs.

    A short lease makes a killed worker's job come back quickly; the heartbeat keeps a long
    provider call from being handed to a second worker meanwhile.
    """

    def __init__(self, engine, job_id: uuid.UUID, delivery: int, lease_seconds: float):
        self.engine, self.job_id, self.delivery = engine, job_id, delivery
        self.lease = lease_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def _beat(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            with self.engine.begin() as conn:
                conn.execute(text(
                    "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => :secs) "
                    "WHERE id = :id AND status = 'running' AND deliveries = :delivery"),
                    {"secs": self.lease, "id": self.job_id, "delivery": self.delivery})

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join()

