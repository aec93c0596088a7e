"""A pooled connection the server ended is replaced at checkout, a lent autocommit
connection goes back as the pool lent it, a kept one is each thread's own (app/dbpool.py),
and the app's pool is as wide as the web's threads."""
from __future__ import annotations

import os
import select
import threading

import psycopg
import pytest
import sqlalchemy as sa

from app.config import load_config
from app.dbpool import (autocommit, keep_autocommit, replace_dead_connections,
                        server_has_hung_up)
from app.extensions import db


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



def test_an_autocommit_statement_is_committed_and_the_connection_goes_back_transactional(
        app, db_session):
    engine = _engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with autocommit(engine) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS dbpool_probe (n int)")
            connection.execute("INSERT INTO dbpool_probe VALUES (1)")
            assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        # Seen from another connection: it committed without a COMMIT.
        assert db_session.execute(sa.text("SELECT count(*) FROM dbpool_probe")).scalar() == 1
        with engine.connect() as conn:  # the same pooled connection (pool of one)
            assert conn.connection.driver_connection.autocommit is False
            conn.execute(sa.text("INSERT INTO dbpool_probe VALUES (2)"))
            conn.rollback()  # a transaction again: the rollback undoes the insert
        assert db_session.execute(sa.text("SELECT count(*) FROM dbpool_probe")).scalar() == 1
    finally:
        db_session.rollback()
        db_session.execute(sa.text("DROP TABLE IF EXISTS dbpool_probe"))
        db_session.commit()
        engine.dispose()


def test_a_connection_that_dies_while_lent_is_replaced_at_the_next_checkout(app, db_session):
    engine = _engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with pytest.raises(psycopg.OperationalError):
            with autocommit(engine) as connection:
                connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        with autocommit(engine) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        engine.dispose()


def _burst(engine, width: int) -> None:
    """`width` threads each holding a pooled connection at the same moment, as busy web
    threads do."""
    together = threading.Barrier(width)

    def hold():
        with autocommit(engine) as connection:
            connection.execute("SELECT 1")
            together.wait(timeout=30)
    threads = [threading.Thread(target=hold) for _ in range(width)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not together.broken


def test_a_burst_as_wide_as_the_web_threads_reuses_the_pools_connections(app):
    """The app's engine keeps GPUBRIDGE_DB_POOL_SIZE connections (one per web thread, 8 by
    default). With SQLAlchemy's default pool of 5, the second burst of 8 would open 3
    connections and close them again on return, as it did under load before."""
    web_threads = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"]
    opened = []

    def count(*_):
        opened.append(1)
    with app.app_context():
        engine = db.engine
        assert engine.pool.size() == web_threads
        sa.event.listen(engine, "connect", count)
        try:
            width = web_threads - engine.pool.checkedout()  # others' connections count too
            _burst(engine, width)
            first = len(opened)
            _burst(engine, width)
            assert len(opened) == first
        finally:
            sa.event.remove(engine, "connect", count)


@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("setting,prepared", [(None, True), ("off", False)])
def test_statements_are_prepared_unless_the_setting_turns_it_off(app, tmp_path, setting,
                                                                  prepared, kept):
    """GPUBRIDGE_DB_PREPARE_THRESHOLD=off, for a PgBouncer that cannot hold prepared
    statements: a statement run again and again is then never prepared on the server, on a
    pooled connection or a kept one."""
    env = {"GPUBRIDGE_VAR_DIR": str(tmp_path)}
    if setting is not None:
        env["GPUBRIDGE_DB_PREPARE_THRESHOLD"] = setting
    options = load_config(env)["SQLALCHEMY_ENGINE_OPTIONS"]
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], **options)
    if kept:
        keep_autocommit(engine, options["connect_args"])
    try:
        with autocommit(engine) as connection:
            for _ in range(8):
                connection.execute("SELECT count(*) FROM jobs WHERE status = %s", ["queued"])
            count = connection.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert (count[0] > 0) is prepared
    finally:
        engine.dispose()


def _kept_engine(database_url: str, connect_args: dict | None = None) -> sa.engine.Engine:
    engine = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    keep_autocommit(engine, connect_args or {})
    return engine


def _pid(engine) -> tuple:
    with autocommit(engine) as connection:
        return connection, connection.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_each_thread_keeps_its_own_autocommit_connection_apart_from_the_pool(app):
    engine = _kept_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        mine, pid = _pid(engine)
        assert mine.autocommit and _pid(engine) == (mine, pid)
        theirs = []
        thread = threading.Thread(target=lambda: theirs.append(_pid(engine)))
        thread.start()
        thread.join()
        assert theirs[0][1] != pid
        assert engine.pool.checkedin() + engine.pool.checkedout() == 0  # never used
    finally:
        engine.dispose()
    assert mine.closed and theirs[0][0].closed  # every thread's, closed with the engine


def test_a_kept_connection_the_server_ended_is_replaced(app, db_session):
    engine = _kept_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        first, pid = _pid(engine)
        db_session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db_session.commit()
        poller = select.poll()
        poller.register(first.fileno(), select.POLLIN)
        assert poller.poll(10_000), "the server never closed the connection"
        second, new_pid = _pid(engine)  # no OperationalError: replaced before use
        assert second is not first and new_pid != pid and first.closed
    finally:
        engine.dispose()


def test_a_forked_child_opens_its_own_and_leaves_its_parents_open(app):
    engine = _kept_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        parents, pid = _pid(engine)
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child: its own connection, then the engine's closed (its own)
            try:
                os.write(write, str(_pid(engine)[1]).encode())
                engine.dispose()
            finally:
                os._exit(0)
        os.close(write)
        childs_pid = int(os.read(read, 32))
        os.waitpid(child, 0)
        assert childs_pid != pid
        assert _pid(engine) == (parents, pid)  # still open, still working
    finally:
        engine.dispose()
