"""The hot paths' Redis round trips on a connection each thread keeps, without the client.

redis-py 8's client wraps every command or pipeline in a check-out from its connection pool
and a return to it, a retry wrapper and metric hooks: about 70 µs of CPU a round trip here,
as much as sending and reading it (README, Benchmarks). A job makes two round trips and
POST /run one; those go through `DirectRedis`, which uses redis-py's own connection (its
parser, the URL's settings) and nothing around it. Its commands are packed here: redis-py's
packer runs an encoder per argument, some 9 µs each. Everything else uses the client.
"""
from __future__ import annotations

import os
import threading

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


class DirectRedis:
    """Round trips of a few commands to the Redis of `client`, one connection per thread (and
    per process: a forked child makes its own)."""

    def __init__(self, client):
        pool = client.connection_pool
        self._connection_class, self._kwargs = pool.connection_class, pool.connection_kwargs
        self._local = threading.local()

    def execute(self, commands: list[tuple]) -> list:
        """Send `commands` at once and return their replies in order, an error reply as its
        ResponseError (as a pipeline does with raise_on_error=False). Raises RedisError when
        Redis cannot be reached. A kept connection found closed (Redis restarted) is opened
        again and the commands sent once more: the hot paths' commands may run twice."""
        connection, kept = self._connection()
        try:
            return _round_trip(connection, commands)
        except RedisConnectionError:
            if not kept:
                raise
            return _round_trip(connection, commands)  # redis-py closed it; this reconnects

    def _connection(self) -> tuple[object, bool]:
        found = getattr(self._local, "connection", None)
        if found is not None and found[0] == os.getpid():
            return found[1], True
        connection = self._connection_class(**self._kwargs)
        self._local.connection = (os.getpid(), connection)
        return connection, False


def _round_trip(connection, commands: list[tuple]) -> list:
    try:
        connection.send_packed_command([pack(commands)], check_health=False)
        return [_reply(connection) for _ in commands]
    except BaseException:
        connection.disconnect()  # replies may be left unread: never reuse it as it is
        raise


def pack(commands: list[tuple]) -> bytes:
    """The commands as RESP arrays of bulk strings: str as UTF-8, bytes as they are, int and
    float by repr (as redis-py writes them)."""
    parts = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            parts.append(b"$%d\r\n%s\r\n" % _bulk(arg))
    return b"".join(parts)


def _bulk(arg) -> tuple[int, bytes]:
    if isinstance(arg, str):
        arg = arg.encode()
    elif type(arg) in (int, float):  # not bool, which redis-py refuses too
        arg = repr(arg).encode()
    elif not isinstance(arg, bytes):
        raise TypeError(f"a Redis argument must be str, bytes, int or float, not {type(arg)}")
    return len(arg), arg


def _reply(connection):
    try:
        return connection.read_response()
    except ResponseError as error:  # the reply was read whole; the next one follows
        return error
