"""A job's end in the worker that ran it: settled in its final statement, its final webhook's
first attempt made there, retries and failures handed to the other queues.

The task runs in this process (no billing or webhooks worker): the messages it would send are
recorded instead, so each test sees exactly what was left to the other queues.
"""
import dataclasses
import json
import uuid

import pytest
import redis as redis_lib
from celery.signals import worker_process_shutdown
from sqlalchemy import text

from app import lifecycle, notifications, webhook_signing, webhooks
from app.catalog import load_catalog
from app.dbpool import autocommit
from app.redis_direct import DirectRedis
from app.webhook_log import DeliveredLog
from app.extensions import db
from billing import accounts, ledger, settlement
from providers.base import Result, Usage
from providers.router import Attempt
from tests.helpers import auth, free_port, grant, register
from tests.integration.conftest import wait_for
from tests.receiver import Receiver
from workers import execute, final, finish
from workers.lifecycle_tasks import sweep_lifecycle
from workers.tasks import run_job, settle_job

LLM = {"service": "llm-4090", "input": {"prompt": "hi"}}


class Answers:
    """The groq backend, answering at once."""

    def availability(self, task):
        return None

    def run(self, call):
        return Result(output={"text": "hello"}, usage=Usage(input_tokens=3, output_tokens=2))


@pytest.fixture
def sent(app, monkeypatch) -> list:
    """Run jobs in this process: a groq backend, no message to the broker, no receiver marks."""
    monkeypatch.setitem(app.extensions["backends"], "groq", Answers())
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)
    messages = []
    monkeypatch.setattr(app.extensions["celery"], "send_task", lambda name, args=None, **kw:
                        messages.append((name, args, kw.get("countdown"))))
    redis = app.extensions["redis"]
    for key in redis.scan_iter("gpub:webhook:slow:*"):
        redis.delete(key)
    yield messages
    for key in redis.scan_iter("gpub:webhook:slow:*"):
        redis.delete(key)


def _submit(app, client, email: str, webhook_url: str) -> str:
    key = register(client, email)
    grant(app, email, "1")
    response = client.post("/run", json={**LLM, "webhook_url": webhook_url}, headers=auth(key))
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job_id"]


def _job(session, job_id):
    session.commit()
    return session.execute(text(
        "SELECT status, finished_at, settled_at, actual_cost FROM jobs WHERE id = :id"),
        {"id": uuid.UUID(job_id)}).one()


def _deliveries(session, job_id):
    session.commit()
    return session.execute(text(
        "SELECT id, event_type, status, attempts FROM webhook_deliveries WHERE job_id = :id "
        "ORDER BY id"), {"id": uuid.UUID(job_id)}).all()


def test_the_worker_settles_the_job_with_its_final_status_and_delivers_the_webhook(
        app, client, db_session, sent):
    with Receiver() as receiver:
        job_id = _submit(app, client, "inline@example.com", receiver.url)
        assert run_job(job_id) == "completed"
    job = _job(db_session, job_id)
    # now() is the transaction's start: equal stamps mean one transaction made both.
    assert job.status == "completed" and job.settled_at == job.finished_at
    assert job.actual_cost > 0
    [delivery] = _deliveries(db_session, job_id)
    assert (delivery.event_type, delivery.status, delivery.attempts) == \
        ("job.completed", "delivered", 1)
    assert b'"settled":true' in receiver.requests[0]["body"]
    assert sent == []  # nothing left for the billing or webhooks workers


def test_the_inline_webhook_is_signed_during_a_rotation_and_lists_every_deliverys_attempts(
        app, client, db_session, sent):
    """The final event's row and the signing secrets are one statement, and the job's attempts
    are read with its row: both secrets of a rotation (the current one first) and an attempt
    of an earlier delivery of the job, in order, must reach the receiver."""
    key = auth(register(client, "rotating@example.com"))
    grant(app, "rotating@example.com", "1")
    old = client.get("/account/webhook-secret", headers=key).get_json()["secret"]
    new = client.post("/account/webhook-secret/rotate", headers=key).get_json()["secret"]
    with Receiver() as receiver:
        job_id = client.post("/run", json={**LLM, "webhook_url": receiver.url},
                             headers=key).get_json()["job_id"]
        db_session.execute(text(  # what a delivery that died after one failed call left
            "INSERT INTO job_attempts (job_id, delivery, backend, outcome, error, error_class, "
            "seconds) VALUES (:id, 0, 'deepinfra', 'retryable', 'HTTP 503', 'server', 1.25)"),
            {"id": uuid.UUID(job_id)})
        db_session.commit()
        assert run_job(job_id) == "completed"
    [request] = receiver.requests
    headers = request["headers"]
    signatures = headers["webhook-signature"].split(" ")
    assert signatures == [webhook_signing.sign(secret, headers["webhook-id"],
                                               int(headers["webhook-timestamp"]), request["body"])
                          for secret in (new, old)]
    attempts = json.loads(request["body"])["data"]["attempts"]
    assert [(a["backend"], a["outcome"], a["seconds"]) for a in attempts] == \
        [("deepinfra", "retryable", 1.25), ("groq", "ok", attempts[1]["seconds"])]


def test_a_failing_receiver_gets_retries_from_the_webhooks_workers_and_no_inline_attempt(
        app, client, db_session, sent, batched):
    """An attempt not delivered is written at once, batches or not: its retry needs its row."""
    with Receiver(answers=[(503, {})]) as receiver:
        first = _submit(app, client, "flaky@example.com", receiver.url)
        run_job(first)
        [delivery] = _deliveries(db_session, first)
        assert (delivery.status, delivery.attempts) == ("pending", 1)
        # The retry is the webhooks workers' job, on the schedule (5 s before attempt 2).
        assert sent == [("workers.deliver_webhook", [delivery.id], 5.0)]
        sent.clear()
        second = _submit(app, client, "flaky2@example.com", receiver.url)
        run_job(second)
        [queued] = _deliveries(db_session, second)
    # The receiver failed a first attempt: its next event goes straight to the queue.
    assert (queued.status, queued.attempts) == ("pending", 0)
    assert sent == [("workers.deliver_webhook", [queued.id], None)]
    assert len(receiver.requests) == 1
    assert _job(db_session, second).settled_at is not None


def test_a_worker_that_dies_between_the_first_attempt_and_the_row_leaves_the_same_message(
        app, client, db_session, sent, monkeypatch):
    """The final event's row is written after its first attempt. A worker that dies in
    between leaves a settled job without its event: the lifecycle sweep writes it, and its
    delivery reaches the receiver under the first attempt's webhook-id, a repeat the receiver
    can drop."""
    write_tried = webhooks.write_tried

    def killed(*args):
        raise SystemExit("the worker was killed")
    with Receiver() as receiver:
        job_id = _submit(app, client, "dies@example.com", receiver.url)
        monkeypatch.setattr(webhooks, "write_tried", killed)
        with pytest.raises(SystemExit):
            run_job(job_id)
        monkeypatch.setattr(webhooks, "write_tried", write_tried)
        assert _deliveries(db_session, job_id) == [] and len(receiver.requests) == 1
        db_session.execute(text("UPDATE jobs SET settled_at = settled_at - interval '1 minute' "
                                "WHERE id = :id"), {"id": uuid.UUID(job_id)})
        db_session.commit()
        assert sweep_lifecycle()["events"] == 1
        [delivery] = _deliveries(db_session, job_id)
        assert sent == [("workers.deliver_webhook", [delivery.id], None)]
        webhooks.attempt(db_session, delivery.id, webhooks.DeliverySettings.from_config(
            app.config))
    first, again = receiver.requests
    assert first["headers"]["webhook-id"] == again["headers"]["webhook-id"]
    assert json.loads(first["body"])["type"] == json.loads(again["body"])["type"] == \
        "job.completed"


@pytest.fixture
def batched(app, monkeypatch):
    """A delivered-events batch of three rows in this process, written by a test or when full."""
    delivered = DeliveredLog(3, wait=3600)
    monkeypatch.setitem(app.extensions, "delivered_log", delivered)
    return delivered


def _logged(session, job_ids):
    session.commit()
    return session.execute(text(
        "SELECT d.status, d.attempts, d.created_at, a.status_code FROM webhook_deliveries d "
        "JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.job_id = ANY(:ids) "
        "ORDER BY d.id"), {"ids": [uuid.UUID(job_id) for job_id in job_ids]}).all()


def test_delivered_final_events_are_written_in_one_statement_when_the_batch_is_full(
        app, client, db_session, sent, batched):
    with Receiver() as receiver:
        jobs = [_submit(app, client, f"batch{n}@example.com", receiver.url) for n in range(3)]
        for job_id in jobs[:2]:
            assert run_job(job_id) == "completed"
        assert len(receiver.requests) == 2 and _logged(db_session, jobs) == []
        run_job(jobs[2])
    rows = _logged(db_session, jobs)
    assert [(row.status, row.attempts, row.status_code) for row in rows] == \
        [("delivered", 1, 200)] * 3
    assert len({row.created_at for row in rows}) == 1  # one transaction wrote all three
    assert sent == []


def test_a_batch_not_full_is_written_by_its_side_thread_once_the_oldest_has_waited(
        app, client, db_session, sent, monkeypatch):
    monkeypatch.setitem(app.extensions, "delivered_log", DeliveredLog(10, wait=0.05))
    with Receiver() as receiver:
        job_id = _submit(app, client, "waited@example.com", receiver.url)
        run_job(job_id)
    rows = wait_for(lambda: _logged(db_session, [job_id]), timeout=10)  # written after 50 ms
    assert [(row.status, row.status_code) for row in rows] == [("delivered", 200)]


def test_a_worker_process_shutting_down_writes_its_batch(app, client, db_session, sent,
                                                         batched):
    with Receiver() as receiver:
        job_id = _submit(app, client, "shutdown@example.com", receiver.url)
        run_job(job_id)
    assert _logged(db_session, [job_id]) == []
    worker_process_shutdown.send(sender=None)
    assert [row.status for row in _logged(db_session, [job_id])] == ["delivered"]


def _unsettled_then_settled_by_the_task(app, client, db_session, sent, monkeypatch, email,
                                        broken_quote):
    """Run a job whose settlement fails in the worker; then what the settle task does."""
    with Receiver() as receiver:
        job_id = _submit(app, client, email, receiver.url)
        quote = settlement.quote
        monkeypatch.setattr(settlement, "quote", broken_quote)
        assert run_job(job_id) == "completed"
        job = _job(db_session, job_id)
        assert job.status == "completed" and job.settled_at is None and job.actual_cost is None
        assert _deliveries(db_session, job_id) == []  # the event waits for the settlement
        assert sent == [("workers.settle_job", [job_id], None)]
        sent.clear()
        monkeypatch.setattr(settlement, "quote", quote)
        assert settle_job(job_id) is True  # what the billing worker does with that message
    assert _job(db_session, job_id).settled_at is not None
    [delivery] = _deliveries(db_session, job_id)
    assert sent == [("workers.deliver_webhook", [delivery.id], None)]
    kinds = db_session.execute(text(
        "SELECT kind FROM ledger_transactions WHERE job_id = :id AND kind <> 'refund' "
        "ORDER BY kind"), {"id": uuid.UUID(job_id)}).scalars().all()
    assert kinds == ["capture", "hold"] and ledger.check(db_session) == []


def test_a_pricing_failure_keeps_the_final_status_and_the_settle_task_takes_over(
        app, client, db_session, sent, monkeypatch):
    def broken(catalog, job):
        raise RuntimeError("a bug in pricing")
    _unsettled_then_settled_by_the_task(app, client, db_session, sent, monkeypatch,
                                        "broken@example.com", broken)


def test_a_settlement_the_database_refuses_undoes_only_the_settlement(
        app, client, db_session, sent, monkeypatch):
    # A capture above the hold breaks the jobs table's cost_within_hold check inside the
    # final statement: the whole call rolls back, and the job is ended again unsettled.
    def over_the_hold(catalog, job):
        return settlement.Quote(accounts.Settlement(job.hold_amount + 1, -1), 0)
    _unsettled_then_settled_by_the_task(app, client, db_session, sent, monkeypatch,
                                        "refused@example.com", over_the_hold)


def test_a_delivery_whose_job_was_taken_over_keeps_its_attempt_and_writes_nothing_else(
        app, client, db_session, sent):
    with Receiver() as receiver:
        job_id = _submit(app, client, "taken@example.com", receiver.url)
    first = execute.claim(db_session, uuid.UUID(job_id), 300, 3)
    # Its lease ran out and another delivery claimed the job meanwhile.
    db_session.execute(text("UPDATE jobs SET deliveries = deliveries + 1 WHERE id = :id"),
                       {"id": uuid.UUID(job_id)})
    db_session.commit()
    ending = final.Ending("completed", output={"audio_url": "file:a"},
                          usage={"input_tokens": 1, "output_tokens": 1},
                          files=(("t" * 43, "audio/wav", b"RIFF"),))
    attempt = Attempt("groq", "ok", None, 0.01)
    assert final.write(db.engine, first, ending, [attempt], load_catalog()) is None
    job = _job(db_session, job_id)
    assert (job.status, job.settled_at, job.actual_cost) == ("running", None, None)
    attempts = db_session.execute(text(
        "SELECT delivery, backend, outcome FROM job_attempts WHERE job_id = :id"),
        {"id": uuid.UUID(job_id)}).all()
    assert [tuple(a) for a in attempts] == [(first.delivery, "groq", "ok")]  # it was called
    files = db_session.execute(text("SELECT count(*) FROM stored_files WHERE job_id = :id"),
                               {"id": uuid.UUID(job_id)}).scalar()
    captures = db_session.execute(text(
        "SELECT count(*) FROM ledger_transactions WHERE job_id = :id AND kind <> 'hold'"),
        {"id": uuid.UUID(job_id)}).scalar()
    assert (files, captures) == (0, 0)


def test_a_jobs_end_reads_back_its_row_but_not_its_input(app, client, db_session, sent):
    """The input may be a whole media file in base64; nothing after the job's end reads it."""
    with Receiver() as receiver:
        job_id = _submit(app, client, "input@example.com", receiver.url)
    claimed = execute.claim(db_session, uuid.UUID(job_id), 300, 3)
    ending = final.Ending("completed", output={"text": "hi"},
                          usage={"input_tokens": 1, "output_tokens": 1})
    ended = final.write(db.engine, claimed, ending, [Attempt("groq", "ok", None, 0.01)],
                        load_catalog())
    assert (ended.status, ended.settled, str(ended.job.id)) == ("completed", True, job_id)
    assert ended.job.webhook_url == receiver.url and not hasattr(ended.job, "input")


def test_the_read_of_an_ended_job_still_answers_after_a_migration_adds_a_column(
        app, client, sent):
    """Workers keep running while `flask db upgrade` adds a column to jobs: their prepared
    read of the ended job must keep answering, not fail on every job until they restart."""
    with Receiver() as receiver:
        job_id = uuid.UUID(_submit(app, client, "migrating@example.com", receiver.url))
    with app.app_context(), autocommit(db.engine) as worker, \
            autocommit(db.engine) as migration:
        for _ in range(8):  # past psycopg's prepare threshold: the read is a prepared statement
            assert final.read_ended(worker, job_id).status == "queued"
        migration.execute("SET lock_timeout = '10s'")
        migration.execute("ALTER TABLE jobs ADD COLUMN added_by_a_migration integer")
        try:
            assert final.read_ended(worker, job_id).status == "queued"
        finally:
            migration.execute("ALTER TABLE jobs DROP COLUMN added_by_a_migration")


def test_ending_a_job_wakes_its_waiters_and_reads_the_receivers_slow_mark_at_once(app):
    services = notifications.Services.of(app)
    redis, job_id = services.redis, uuid.uuid4()
    fast, slow = "https://fast.example/hook", "https://slow.example/hook"
    webhooks.mark_slow(redis, slow)
    waiter = redis.pubsub(ignore_subscribe_messages=True)
    waiter.subscribe(lifecycle.channel(job_id))
    waiter.get_message(timeout=1)  # the subscription's confirmation
    try:
        assert notifications.job_ended(services, job_id, fast) is True
        assert waiter.get_message(timeout=5)["data"] == b"changed"
        assert notifications.job_ended(services, job_id, slow) is False
        assert notifications.job_ended(services, job_id, None) is False
        off = dataclasses.replace(services, config={**services.config,
                                                    "WEBHOOK_INLINE_TIMEOUT_SECONDS": 0})
        assert notifications.job_ended(off, job_id, fast) is False
    finally:
        waiter.close()
        redis.delete(webhooks.slow_key(slow))


def test_without_redis_the_worker_still_makes_the_first_attempt_itself(app):
    services = notifications.Services.of(app)
    unreachable = redis_lib.Redis(port=free_port(), socket_connect_timeout=1)
    down = dataclasses.replace(services, redis=unreachable, direct=DirectRedis(unreachable))
    assert notifications.job_ended(down, uuid.uuid4(), "https://fast.example/hook") is True


def test_the_backends_success_is_recorded_with_the_jobs_end(app, client, db_session, sent):
    health = app.extensions["backend_health"]
    redis = app.extensions["redis"]
    redis.set("gpub:backend:groq:fails", 2)  # two failures before this job's success
    redis.hdel("gpub:latency", "groq")
    with Receiver() as receiver:
        job_id = _submit(app, client, "success@example.com", receiver.url)
        assert run_job(job_id) == "completed"
    assert health.states(["groq"]) == {"groq": (False, None)}  # the count was reset
    assert "groq" in health.latencies()


def test_a_success_waits_for_the_jobs_end_or_is_recorded_on_its_own(app):
    health = app.extensions["backend_health"]
    app.extensions["redis"].hdel("gpub:latency", "groq")
    later = finish.JobHealth(health, uuid.uuid4())
    later.succeeded("groq", 0.25)
    assert "groq" not in health.latencies()
    later.record_now()  # what a delivery that lost the job to another does
    assert health.latencies()["groq"] == pytest.approx(0.25)


def test_a_job_wakes_its_waiters_when_it_starts_and_when_it_ends(app, client, db_session, sent):
    redis = app.extensions["redis"]
    with Receiver() as receiver:
        job_id = _submit(app, client, "wake@example.com", receiver.url)
        waiter = redis.pubsub(ignore_subscribe_messages=True)
        waiter.subscribe(lifecycle.channel(job_id))
        waiter.get_message(timeout=1)  # the subscription's confirmation
        try:
            assert run_job(job_id) == "completed"
            wakes = [waiter.get_message(timeout=5) for _ in range(2)]
        finally:
            waiter.close()
    assert [wake and wake["data"] for wake in wakes] == [b"changed", b"changed"]
