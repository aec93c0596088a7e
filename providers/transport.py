"""Provider calls over kept HTTP/1.1 connections, for origins reached without a proxy.

urllib3's PoolManager, which wire.Client used for every call, costs a short provider call
about 250 µs more CPU than the same exchange on a kept http.client connection, and
http.client about 130 µs more than providers/http1.py (README, Benchmarks, B9). So a call to
an origin reached directly goes out here; through a proxy from the environment
(HTTP(S)_PROXY) it still goes through urllib3's ProxyManager, which speaks CONNECT and proxy
authentication.

What is kept from urllib3's behaviour with retries off: one connection per call at a time,
kept afterwards when the answer was read to its end; an idle connection the server closed is
replaced before it is used (providers/keepalive.py), and a call that fails is never sent
again here (the router decides about retries: a provider must not run one attempt twice).
"""
from __future__ import annotations

import ssl
import time
from typing import Callable
from urllib.parse import urlsplit

from . import http1
from .keepalive import KeptConnections
from .media import request_target


class DirectTransport:
    """Kept HTTP(S) connections of one process to the origins its calls name; `tls` gives
    the TLS settings of each new connection."""

    def __init__(self, tls: Callable[[], ssl.SSLContext]):
        self.tls, self.kept = tls, KeptConnections()

    def request(self, method: str, url: str, body: bytes | None, headers: dict,
                timeout: float) -> tuple[int, str, http1.Headers, bytes]:
        """Send one request and read its answer whole: status, reason, headers, content.
        Raises ValueError for a URL that is not http(s) or a header that would break the
        request, TimeoutError when the exchange outlasts `timeout`, and OSError or
        http.client.HTTPException when it fails."""
        scheme, host, port, target = _origin(url)
        deadline = time.monotonic() + timeout
        taken = self.kept.take(scheme, host, port, [host])
        conn, key = taken if taken is not None else (
            self._connect(scheme, host, port, deadline), (scheme, host, port, host))
        try:
            answer = conn.exchange(method, target, headers, body, deadline)
        except BaseException:
            conn.close()
            raise
        if conn.reusable:
            self.kept.give(key, conn)
        else:
            conn.close()
        return answer

    def _connect(self, scheme: str, host: str, port: int, deadline: float) -> http1.Connection:
        return http1.connect(host, port, host, self.tls() if scheme == "https" else None,
                             deadline)


def _origin(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and request target of an http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname, port, request_target(url)
