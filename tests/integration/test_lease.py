"""The lease keeper: a running job's lease is renewed while it runs, by one thread that serves
job after job and ends when the process runs none."""
import uuid

from sqlalchemy import text

from tests.helpers import auth, data, grant, register
from tests.integration.conftest import wait_for
from workers import execute
from workers.lease import LeaseKeeper

EMBED = {"service": "embedding-l4", "input": {"text": "hello"}}


def _lease_left(session, job_id) -> float:
    session.commit()  # a fresh snapshot: the keeper renews from its own connection
    return session.execute(text(
        "SELECT EXTRACT(EPOCH FROM lease_expires_at - now()) FROM jobs WHERE id = :id"),
        {"id": job_id}).scalar()


def _past(session, moment) -> bool:
    session.commit()
    return session.execute(text("SELECT now() > :moment"), {"moment": moment}).scalar()


def test_the_keeper_renews_a_held_lease_and_stops_when_nothing_is_held(
        app, client, db_session, monkeypatch):
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)  # this test plays the worker
    key = register(client, "lease@example.com")
    grant(app, "lease@example.com", "1")
    job_id = uuid.UUID(data(client.post("/run", json=EMBED, headers=auth(key)))["job_id"])
    claimed = execute.claim(db_session, job_id, 1, 3)  # a one-second lease
    first_expiry = db_session.execute(text("SELECT lease_expires_at FROM jobs WHERE id = :id"),
                                      {"id": job_id}).scalar()
    keeper = LeaseKeeper(tick=0.05)
    engine = db_session.get_bind()
    with keeper.hold(engine, job_id, claimed.delivery, 1):
        wait_for(lambda: _past(db_session, first_expiry), timeout=5, interval=0.05)
        assert _lease_left(db_session, job_id) > 0  # renewed every third of a second
        thread = keeper._thread
        with keeper.hold(engine, uuid.uuid4(), 1, 60):  # a second job shares the thread
            assert keeper._thread is thread and thread.is_alive()
    wait_for(lambda: not thread.is_alive(), timeout=5, interval=0.05)
    with keeper.hold(engine, job_id, claimed.delivery, 1):  # the next job starts a new one
        assert keeper._thread is not thread and keeper._thread.is_alive()
