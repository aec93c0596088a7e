"""Kombu's Redis transport, publishing through one client per channel.

Kombu builds a new redis.Redis for every message it sends (`Channel.conn_or_acquire`), and
building one fills a table of about 170 response callbacks: on POST /run that cost more CPU
than the LPUSH it wraps. The client is only a front for the channel's connection pool, which
kombu keeps; so one client per channel pool does the same work. When kombu drops its pools
(a broker connection error), the next message builds a client on the new pool.
"""
from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """Kombu's channel, but `conn_or_acquire` lends the channel's one publishing client."""

    _publisher = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        publisher = self._publisher
        if publisher is None or publisher.connection_pool is not self.pool:
            publisher = self._publisher = self._create_client()
        yield publisher


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """This transport for a plain redis:// broker; None (kombu's own choice) for any other,
    rediss:// included, whose TLS set-up is left to kombu untouched."""
    scheme = broker_url.partition("://")[0].lower()
    return f"{__name__}:Transport" if scheme == "redis" else None
