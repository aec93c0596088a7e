"""Pooled connections: an idle one the server closed is replaced before use; a recently used
one is handed out without a test (a round trip a transaction saved)."""
import pytest
import sqlalchemy as sa

from app.extensions import ping_idle_connections


def _engine(url: str, idle_seconds: float):
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine, idle_seconds)
    return engine


def _pid_closed_by_the_server(engine, admin) -> int:
    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with admin.connect() as conn:  # as a restart or an idle timeout would
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return pid


def test_an_idle_connection_closed_by_the_server_is_replaced(database_url):
    engine, admin = _engine(database_url, 0), sa.create_engine(database_url)
    try:
        dead = _pid_closed_by_the_server(engine, admin)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != dead
    finally:
        engine.dispose()
        admin.dispose()


def test_a_recently_used_connection_is_not_tested(database_url):
    engine, admin = _engine(database_url, 60), sa.create_engine(database_url)
    try:
        _pid_closed_by_the_server(engine, admin)
        with pytest.raises(sa.exc.OperationalError):  # no ping: the statement finds it closed
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        with engine.connect() as conn:  # and the pool has replaced it
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
        admin.dispose()
