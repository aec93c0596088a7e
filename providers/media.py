"""Fetch user-supplied media URLs, and POST webhooks, without reaching private address space.

Every host name is resolved and checked once (providers/urlguard.py), and the connection goes
to a checked address (TLS still verifies the original host name), so DNS rebinding cannot swap
it afterwards. Redirects are followed by hand and each hop is checked again.
"""
from __future__ import annotations

import base64
import binascii
import functools
import http.client
import socket
import ssl
import time
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

from providers import http1
from providers.base import PermanentProviderError, RetryableProviderError
from providers.keepalive import KeptConnections
from providers.urlguard import Resolver, UrlPolicy, checked_target, system_resolver

MAX_REDIRECTS = 3
REDIRECT_CODES = (301, 302, 303, 307, 308)
RETRYABLE_4XX = (408, 429)
CHUNK = 64 * 1024
URL_SAFE = "/%:@!$&'()*+,;=?-._~"  # keep what is already valid in a path or query
#: This process's idle connections to webhook receivers (post_once).
KEPT = KeptConnections()


def fetch_media(url: str, policy: UrlPolicy,
                resolve: Resolver = system_resolver) -> tuple[bytes, str]:
    """The bytes and media type behind `url` (data: or http(s)), fetched under `policy`."""
    if url.lower().startswith("data:"):
        return _decode_data_uri(url, policy)
    deadline = time.monotonic() + policy.timeout
    for _ in range(MAX_REDIRECTS + 1):
        target = checked_target(url, policy, resolve)
        try:
            outcome = _get(url, target, policy, deadline)
        except TimeoutError as exc:
            raise RetryableProviderError(f"timed out fetching {url}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentProviderError(f"could not fetch {url}: {exc.verify_message}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise RetryableProviderError(f"could not fetch {url}: {exc}") from exc
        if isinstance(outcome, tuple):
            return outcome
        url = outcome
    raise PermanentProviderError(f"could not fetch {url}: more than {MAX_REDIRECTS} redirects")


def post_once(url: str, body: bytes, headers: dict, policy: UrlPolicy,
              resolve: Resolver = system_resolver,
              kept: KeptConnections | None = KEPT) -> tuple[int, dict]:
    """POST `body` to a checked, pinned address; the status and headers. Redirects are not
    followed (a 3xx is just an answer), so a receiver cannot bounce us into private space.

    From the connect on, the whole exchange ends within `policy.timeout` (TimeoutError past
    it): each send and read waits only for the time left, so a receiver dripping its answer a
    byte at a time cannot hold the caller longer than one slow answer.

    The connection goes back to `kept` for the next POST to the same checked address when the
    receiver keeps it open and its answer was read to the end (providers/keepalive.py). A kept
    connection that turns out to be closed by the receiver is replaced by a new one, once.
    """
    scheme, host, port, addresses = checked_target(url, policy, resolve)
    deadline = time.monotonic() + policy.timeout
    taken = kept.take(scheme, host, port, addresses) if kept is not None else None
    if taken is not None:
        try:
            return _exchange(*taken, url, body, headers, deadline, kept)
        except (ConnectionResetError, BrokenPipeError):  # http.client's RemoteDisconnected too
            pass
    conn, address = _dial(scheme, host, port, addresses, deadline)
    return _exchange(conn, (scheme, host, port, address), url, body, headers, deadline, kept)


def _exchange(conn: http1.Connection, key: tuple, url: str, body: bytes, headers: dict,
              deadline: float, kept: KeptConnections | None) -> tuple[int, dict]:
    """One POST on `conn` (a few bytes of the answer read at most: we only need its status),
    then the connection kept (when it may be) or closed."""
    try:
        answer = conn.exchange("POST", request_target(url), headers, body, deadline,
                               max_body=CHUNK)
    except BaseException:
        conn.close()
        raise
    if kept is not None and conn.reusable:
        kept.give(key, conn)
    else:
        conn.close()
    return answer.status, answer.headers


def _dial(scheme: str, host: str, port: int, addresses: list[str], deadline: float
          ) -> tuple[http1.Connection, str]:
    """A providers/http1 connection to the first reachable checked address, speaking to
    `host`, and that address."""
    tls = tls_context() if scheme == "https" else None
    return _first_reachable(addresses, lambda address: http1.connect(
        address, port, host, tls, deadline, _dialer(address)))


def _get(url: str, target: tuple, policy: UrlPolicy, deadline: float) -> tuple[bytes, str] | str:
    """One GET to a checked address: the body and type, or the next URL on a redirect."""
    conn, _address = _connect(*target, timeout=_remaining(deadline, url))
    try:
        # identity: no compressed body to inflate past max_bytes
        headers = {"User-Agent": "gpubridge-media/1", "Accept-Encoding": "identity"}
        conn.request("GET", request_target(url), headers=headers)
        sock = conn.sock  # getresponse() may hand the socket to the response and clear this
        resp = conn.getresponse()
        if resp.status in REDIRECT_CODES and resp.getheader("Location"):
            return urljoin(url, resp.getheader("Location"))
        _raise_for_status(resp, url)
        body = _read_limited(resp, sock, url, policy, deadline)
        kind = (resp.getheader("Content-Type") or "application/octet-stream").split(";")[0]
        return body, kind.strip().lower()
    finally:
        conn.close()


def request_target(url: str) -> str:
    """The path and query to send, percent-encoding what http.client would refuse."""
    parts = urlsplit(url)
    return quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=URL_SAFE)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS client settings of every connection this module makes: the system's trusted
    CAs (or SSL_CERT_FILE's), certificate and host name checked, built once per process.

    http.client builds a default context for each connection it is not given one, and that
    loads the whole CA bundle again: 23 ms of CPU on our test machine, several times the rest
    of a job's work, for every HTTPS webhook and media fetch (bench/b7_https_webhook.py)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # as http.client's own default context says
    return context


def _connect(scheme: str, host: str, port: int, addresses: list[str], timeout: float) -> tuple:
    """An open http.client connection to the first reachable checked address, speaking to
    `host`, and that address."""
    def open_one(address: str):
        conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context())
                if scheme == "https" else http.client.HTTPConnection(host, port, timeout=timeout))
        # Pin: http.client would resolve `host` again; make it dial the address we checked.
        # The Host header and the TLS server name and certificate check still use `host`.
        conn._create_connection = _dialer(address)
        conn.connect()
        return conn
    return _first_reachable(addresses, open_one)


def _first_reachable(addresses: list[str], open_one) -> tuple:
    """`open_one(address)` of the first address it succeeds for, and that address; a TLS
    failure ends the search (the host is wrong, not the address)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return open_one(address), address
        except ssl.SSLError:
            raise
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


def _dialer(address: str):
    """A socket.create_connection that ignores the host it is given and dials `address`."""
    return lambda host_port, *args: socket.create_connection((address, host_port[1]), *args)


def _raise_for_status(resp: http.client.HTTPResponse, url: str) -> None:
    if resp.status < 300:
        return
    message = f"could not fetch {url}: HTTP {resp.status}"
    if resp.status >= 500 or resp.status in RETRYABLE_4XX:
        retry_after = resp.getheader("Retry-After", "")
        raise RetryableProviderError(message, float(retry_after) if retry_after.isdigit() else None)
    raise PermanentProviderError(message)


def _read_limited(resp, sock: socket.socket, url: str, policy: UrlPolicy, deadline: float) -> bytes:
    """The body, refused past max_bytes and cut off at the deadline."""
    length = resp.getheader("Content-Length", "")
    if length.isdigit() and int(length) > policy.max_bytes:
        raise _too_large(url, policy)
    chunks, size = [], 0
    while chunk := resp.read1(CHUNK):  # read1: whatever has arrived, so the deadline is checked
        size += len(chunk)
        if size > policy.max_bytes:
            raise _too_large(url, policy)
        chunks.append(chunk)
        sock.settimeout(_remaining(deadline, url))  # a slow drip must not outlive the deadline
    return b"".join(chunks)


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RetryableProviderError(f"timed out fetching {url}")
    return left


def _too_large(url: str, policy: UrlPolicy) -> PermanentProviderError:
    shown = "the data: URI" if url.lower().startswith("data:") else url
    return PermanentProviderError(f"{shown} is too large (limit {policy.max_bytes} bytes)")


def _decode_data_uri(url: str, policy: UrlPolicy) -> tuple[bytes, str]:
    """RFC 2397: data:[<mediatype>][;base64],<data>."""
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise PermanentProviderError("invalid data: URI (no comma)")
    params = [p.strip().lower() for p in header.split(";")]
    is_base64 = params[-1] == "base64"
    media = params[:-1] if is_base64 else params
    kind = media[0] if media and media[0] else "text/plain"
    # Refuse before decoding: base64 is 4 chars per 3 bytes, percent-encoding at most 3 per byte.
    if len(payload) > (policy.max_bytes * 4 // 3 + 4 if is_base64 else policy.max_bytes * 3):
        raise _too_large(url, policy)
    raw = unquote_to_bytes(payload)
    if is_base64:
        try:
            raw = base64.b64decode(b"".join(raw.split()), validate=True)
        except binascii.Error as exc:
            raise PermanentProviderError(f"invalid base64 in data: URI: {exc}") from exc
    if len(raw) > policy.max_bytes:
        raise _too_large(url, policy)
    return raw, kind
