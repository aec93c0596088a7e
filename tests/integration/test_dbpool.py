"""A pooled connection the server ended is replaced at checkout (app/dbpool.py)."""
from __future__ import annotations

import select

import sqlalchemy as sa

from app.dbpool import replace_dead_connections, server_has_hung_up


def _engine(database_url: str) -> sa.engine.Engine:
    engine = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    replace_dead_connections(engine)
    return engine


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_a_terminated_connection_is_swapped_for_a_working_one(app, db_session):
    engine = _engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # an idle, healthy connection is reused
        db_session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        db_session.commit()
        record = engine.pool._pool.queue[0]
        poller = select.poll()
        poller.register(record.dbapi_connection.fileno(), select.POLLIN)
        assert poller.poll(10_000), "the server never closed the connection"
        assert server_has_hung_up(record.dbapi_connection)
        second = _backend_pid(engine)  # no OperationalError: the pool replaced it
        assert second != first
    finally:
        engine.dispose()

