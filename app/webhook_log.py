"""The rows of delivered first attempts, written in batches: one statement for many events.

A job's final webhook is first sent by the worker that ended the job, before the event's
delivery row exists (`notifications.first_attempt`). When that attempt is delivered, the row
leads to nothing more (no retry to schedule): it is the record. So each process gathers these
rows and writes up to WEBHOOK_LOG_BATCH of them in one statement (`webhooks.INSERT_TRIED`),
at most about WEBHOOK_LOG_WAIT_SECONDS after the oldest was gathered, and whatever it holds
when the worker process shuts down. A row of its own cost each job a round trip and a
transaction, about a tenth of a B3 job's CPU (README, B3).

An attempt that was not delivered is written at once, since its retry is scheduled from its
row. A process killed with rows not yet written, or whose write fails, leaves settled jobs
without their event rows: the lifecycle sweep writes and sends those events again after its
grace, under the same webhook-ids (`webhooks.message_id`), which receivers drop as repeats;
the same as for a worker that dies between a POST and its row.
"""
from __future__ import annotations

import logging
import threading
import time

from . import webhooks

log = logging.getLogger(__name__)


class DeliveredLog:
    """One process's delivered first attempts not yet written. `size` <= 1 writes each at once."""

    def __init__(self, size: int, wait: float, clock=time.monotonic):
        self.size, self.wait, self.clock = size, wait, clock
        self._rows: list[dict] = []
        self._engine = None
        self._oldest: float | None = None  # when the oldest row held was gathered
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, engine, event: dict, tried: webhooks.Tried) -> None:
        """Gather the delivery `event` (webhooks.insert_params') whose first attempt, `tried`,
        was delivered; write the batch when it is full."""
        row = webhooks.tried_row(event, tried)
        if self.size <= 1:
            webhooks.write_tried(engine, [row])
            return
        with self._lock:
            self._rows.append(row)
            self._engine = engine
            if self._oldest is None:
                self._oldest = self.clock()
            full = len(self._rows) >= self.size
            if not full and (self._thread is None or not self._thread.is_alive()):
                # Not alive: this process was forked from the one that started it.
                self._thread = threading.Thread(target=self._write_when_due, daemon=True,
                                                name="webhook-log")
                self._thread.start()
        if full:
            self.flush()

    def flush(self) -> None:
        """Write every row held now, in one statement."""
        with self._lock:
            rows, engine, self._rows, self._oldest = self._rows, self._engine, [], None
        if not rows:
            return
        try:
            webhooks.write_tried(engine, rows)
        except Exception:  # the lifecycle sweep sends these events again (module docstring)
            log.exception("could not write %d delivered webhook events", len(rows))

    def _write_when_due(self) -> None:
        """The side thread: write the rows held once the oldest has waited `wait` seconds;
        end when nothing is held (the next `add` starts another)."""
        while True:
            with self._lock:
                if self._oldest is None:
                    self._thread = None
                    return
                left = self._oldest + self.wait - self.clock()
            if left > 0:
                time.sleep(left)
            else:
                self.flush()
