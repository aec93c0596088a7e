"""Pooled PostgreSQL connections: checked before use without a round trip, and lent bare
for one-statement work.

An idle connection receives nothing from the server unless the server is ending it: on
pg_terminate_backend or a shutdown PostgreSQL sends a FATAL message and closes the socket. So
a connection whose socket turned readable while it sat in the pool (or that psycopg already
knows is closed) is thrown away and replaced at checkout; the others go out untouched. This
takes the place of SQLAlchemy's pool_pre_ping, which pays a round trip on every checkout, a
tenth of a POST /run. A connection cut without a word (a network partition) fails its first
statement instead, and SQLAlchemy then invalidates the whole pool, as pre-ping would after
waiting for its timeout.
"""
from __future__ import annotations

import select
from contextlib import contextmanager
from typing import Iterator

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


@contextmanager
def autocommit(engine: Engine) -> Iterator:
    """A pooled connection in autocommit mode, as the bare psycopg connection.

    For work where every statement stands alone (POST /run's one-call job write, the
    worker's claim and its final statement): it pays no BEGIN or COMMIT round trip, and none of the bookkeeping of an
    SQLAlchemy Connection. The pool's checkout check still runs; the connection goes back
    with autocommit off, as the pool lent it (setting it sends nothing to the server)."""
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
