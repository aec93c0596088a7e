"""Provider calls over kept http.client connections, for origins reached without a proxy.

urllib3's PoolManager, which wire.Client used for every call, costs a short provider call
about 250 µs more CPU than the same exchange on a kept http.client connection: an eighth
of a job's instructions in the worker (README, Benchmarks, B9). So a call to an origin reached directly
goes out here; through a proxy from the environment (HTTP(S)_PROXY) it still goes through
urllib3's ProxyManager, which speaks CONNECT and proxy authentication.

What is kept from urllib3's behaviour with retries off: one connection per call at a time,
kept afterwards when the answer was read to its end; an idle connection the server closed is
replaced before it is used (providers/keepalive.py), and a call that fails is never sent
again here (the router decides about retries: a provider must not run one attempt twice).
"""
from __future__ import annotations

import http.client
import ssl
from typing import Callable
from urllib.parse import urlsplit

from .keepalive import KeptConnections
from .media import request_target


class DirectTransport:
    """Kept HTTP(S) connections of one process to the origins its calls name; `tls` gives
    the TLS settings of each new connection."""

    def __init__(self, tls: Callable[[], ssl.SSLContext]):
        self.tls, self.kept = tls, KeptConnections()

    def request(self, method: str, url: str, body: bytes | None, headers: dict,
                timeout: float) -> tuple[int, str, http.client.HTTPMessage, bytes]:
        """Send one request and read its answer whole: status, reason, headers, content.
        Raises ValueError for a URL that is not http(s), TimeoutError past `timeout` on a
        connect or read, and OSError or http.client.HTTPException when the exchange fails."""
        scheme, host, port, target = _origin(url)
        taken = self.kept.take(scheme, host, port, [host])
        conn, key = taken if taken is not None else (
            self._connect(scheme, host, port, timeout), (scheme, host, port, host))
        try:
            conn.sock.settimeout(timeout)
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close or conn.sock is None:
            conn.close()
        else:
            self.kept.give(key, conn)
        return response.status, response.reason, response.msg, content

    def _connect(self, scheme: str, host: str, port: int, timeout: float):
        conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=self.tls())
                if scheme == "https" else http.client.HTTPConnection(host, port, timeout=timeout))
        conn.connect()
        return conn


def _origin(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and request target of an http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname, port, request_target(url)
