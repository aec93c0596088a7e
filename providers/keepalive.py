"""Connections to webhook receivers, kept open for the next POST to the same address.

A POST on a new connection pays a TCP connect and, over HTTPS, a TLS handshake: two or three
round trips before the request leaves, and 1.3 ms of a worker's CPU against 0.35 ms over
plain HTTP (bench/b7_https_webhook.py). Senders like Stripe's keep connections open, and so
do we, inside what the private-address guard allows: a kept connection is filed under the
address it dialled, and a POST takes one only if that address is among those it has just
resolved and checked. A connection the receiver closed while it sat idle (its socket turned
readable) is thrown away when it is taken.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict

from app.dbpool import readable_now

IDLE_SECONDS = 30.0  # kept no longer: receivers close idle connections after 5 to 75 s
PER_ADDRESS = 2  # idle connections kept per address; a process makes one POST at a time
MAX_ADDRESSES = 64  # the least recently used are closed beyond this (two sockets each)

Key = tuple  # (scheme, host, port, address)


def hung_up(conn) -> bool:
    """True when the idle connection is closed or the receiver sent something unasked."""
    return conn.sock is None or readable_now(conn.sock.fileno())


class KeptConnections:
    """Idle HTTP(S) connections by address, for one process (forgotten in a forked child)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._forget()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        # In a forked child: its parent's sockets are not its own to write to, so they are
        # dropped unclosed (a TLS close would end the parent's session too), and a lock some
        # thread of the parent held is not inherited held.
        self.lock = threading.Lock()
        self.idle: OrderedDict[Key, list] = OrderedDict()  # key -> [(conn, since)]

    def take(self, scheme: str, host: str, port: int, addresses: list[str]):
        """An open connection to one of `addresses` (just checked) and its key, or None."""
        with self.lock:
            for address in addresses:
                kept = self.idle.get((scheme, host, port, address), [])
                while kept:
                    conn, since = kept.pop()
                    if self.clock() - since < IDLE_SECONDS and not hung_up(conn):
                        return conn, (scheme, host, port, address)
                    conn.close()
        return None

    def give(self, key: Key, conn) -> None:
        """Keep `conn`, whose last answer was read to its end, for the next POST to `key`."""
        with self.lock:
            kept = self.idle.setdefault(key, [])
            self.idle.move_to_end(key)
            if len(kept) >= PER_ADDRESS:
                kept.pop(0)[0].close()
            kept.append((conn, self.clock()))
            while len(self.idle) > MAX_ADDRESSES:
                for old, _since in self.idle.popitem(last=False)[1]:
                    old.close()

    def close_all(self) -> None:
        with self.lock:
            for kept in self.idle.values():
                for conn, _since in kept:
                    conn.close()
            self.idle.clear()
