"""PostgreSQL connections: pooled ones checked before use without a round trip, and, for
one-statement work, one autocommit connection kept by each thread.

An idle connection receives nothing from the server unless the server is ending it: on
pg_terminate_backend or a shutdown PostgreSQL sends a FATAL message and closes the socket. So
a connection whose socket turned readable while it sat in the pool (or that psycopg already
knows is closed) is thrown away and replaced at checkout; the others go out untouched. This
takes the place of SQLAlchemy's pool_pre_ping, which pays a round trip on every checkout, a
tenth of a POST /run. A connection cut without a word (a network partition) fails its first
statement instead, and SQLAlchemy then invalidates the whole pool, as pre-ping would after
waiting for its timeout.

The one-statement work (POST /run's job write, a job's claim, final statement and event rows)
ran on a pooled connection switched to autocommit and back: the checkout, the switches and the
check-in cost about 100,000 of a worker's instructions each time, 7% of a job's (README, B9).
An engine given `keep_autocommit` gives each thread of each process its own connection for
that work instead, opened in autocommit mode on first use and checked the same way before
each use: beside the pool, one more connection per thread that writes.
"""
from __future__ import annotations

import os
import select
import threading
import weakref
from contextlib import contextmanager
from typing import Iterator

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def readable_now(fileno: int) -> bool:
    """Whether the socket `fileno` has something to read (or its peer closed it), now. On an
    idle connection, where nothing was asked, that means the peer hung up."""
    poller = select.poll()  # not select.select: a busy process may hold fds above 1024
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


def server_has_hung_up(dbapi_connection) -> bool:
    """True when the connection is closed or the server sent something while it was idle."""
    return bool(dbapi_connection.closed) or readable_now(dbapi_connection.fileno())


def replace_dead_connections(engine: Engine) -> None:
    """Make the engine's pool swap a hung-up connection for a new one at checkout."""
    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, _record, _proxy):
        if server_has_hung_up(dbapi_connection):
            # The pool discards this connection and checks out another (SQLAlchemy's
            # documented pessimistic disconnect handling).
            raise DisconnectionError("the server closed this pooled connection")


class KeptConnections:
    """The autocommit connections of one engine: one per thread and process, opened on first
    use, replaced when the server has hung up, all closed when the engine is disposed."""

    def __init__(self, engine: Engine, connect_args: dict):
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.connect_args = connect_args
        self._local = threading.local()
        self._opened: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # -> its pid
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def connection(self) -> psycopg.Connection:
        kept = getattr(self._local, "kept", None)
        # Another pid: a forked child's inherited connection is its parent's, left alone.
        if kept is None or kept[0] != os.getpid() or server_has_hung_up(kept[1]):
            if kept is not None and kept[0] == os.getpid():
                kept[1].close()
            kept = self._local.kept = (os.getpid(), psycopg.connect(
                self.conninfo, autocommit=True, **self.connect_args))
            self._opened[kept[1]] = kept[0]
        return kept[1]

    def close_all(self) -> None:
        """This process's connections, every thread's; a forked child's inherited ones are
        its parent's, left open."""
        for connection, pid in list(self._opened.items()):
            if pid == os.getpid():
                connection.close()


_KEPT: "weakref.WeakKeyDictionary[Engine, KeptConnections]" = weakref.WeakKeyDictionary()


def keep_autocommit(engine: Engine, connect_args: dict) -> None:
    """Make `autocommit(engine)` lend each thread its own kept connection (opened with the
    engine's URL and `connect_args`) instead of switching pooled ones."""
    _KEPT[engine] = KeptConnections(engine, connect_args)


@contextmanager
def autocommit(engine: Engine) -> Iterator:
    """A connection in autocommit mode, as the bare psycopg connection.

    For work where every statement stands alone (POST /run's one-call job write, the
    worker's claim and its final statement): it pays no BEGIN or COMMIT round trip, and none
    of the bookkeeping of an SQLAlchemy Connection. The thread's kept connection where the
    engine has them (`keep_autocommit`); else a pooled one, its checkout check run and sent
    back with autocommit off, as the pool lent it (setting it sends nothing to the server)."""
    kept = _KEPT.get(engine)
    if kept is not None:
        yield kept.connection()
        return
    pooled = engine.raw_connection()
    connection = pooled.driver_connection
    try:
        connection.autocommit = True
        yield connection
    finally:
        if not connection.broken and not connection.closed:
            connection.autocommit = False
        pooled.close()  # back to the pool, which replaces a broken connection at checkout


def in_session(session):
    """The bare psycopg connection under a Session's transaction (begun if need be): for
    statements written once in psycopg's style that run both there and on `autocommit`."""
    return session.connection().connection.driver_connection
