"""One HTTP/1.1 request and its whole answer on a kept connection.

A provider call (providers/transport.py) and a webhook POST (providers/media.post_once) are
short exchanges whose answer is read whole. Through http.client each cost the worker about
200 µs of CPU, three times what this module spends (README, Benchmarks, B9): a buffered reader
made for every answer, its headers parsed by the email package, each header checked by a
regular expression, the head and the body sent in two writes. Here the request leaves in one
write, a connection keeps one reader for all its answers, and an answer's body is framed as
RFC 9112 section 6 says: none (HEAD, 1xx, 204, 304), chunked, Content-Length, or up to the
connection's end. Errors are http.client's own classes (all http.client.HTTPException, or
ConnectionResetError for a connection closed before any answer), so callers treat them alike.
"""
from __future__ import annotations

import http.client
import io
import socket
import time
from collections import namedtuple

MAX_LINE = 65536  # as http.client: a longer status or header line is refused
MAX_HEADERS = 100
Answer = namedtuple("Answer", "status reason headers body")


class Headers(dict):
    """An answer's headers by lower-case name (repeated ones joined by commas); `get`, `[]`
    and `in` take a name in any case."""

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name) -> bool:
        return super().__contains__(name.lower())


class _DeadlineRaw(io.RawIOBase):
    """A socket's receiving side on which each read waits only for the time left."""

    def __init__(self, sock: socket.socket):
        self.sock, self.deadline = sock, 0.0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.sock.settimeout(time_left(self.deadline))
        return self.sock.recv_into(buffer)


def time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no complete answer before the deadline")
    return left


class Connection:
    """An open socket to one origin (`host_header` names it) and the reader of its answers.
    `reusable` says whether the last exchange left it ready for another."""

    def __init__(self, sock: socket.socket, host_header: str):
        self.sock, self.host_header, self.reusable = sock, host_header, False
        self._raw = _DeadlineRaw(sock)
        self._reader = io.BufferedReader(self._raw, MAX_LINE)

    def close(self) -> None:
        self.reusable = False
        self.sock.close()

    def exchange(self, method: str, target: str, headers: dict, body: bytes | None,
                 deadline: float, max_body: int | None = None) -> Answer:
        """Send the request and read its answer, all before `deadline` (TimeoutError past it).
        A body longer than `max_body` is cut there, and the connection is not reused."""
        self.reusable = False
        self._raw.deadline = deadline
        self.sock.settimeout(time_left(deadline))
        self.sock.sendall(request_bytes(method, self.host_header, target, headers, body))
        answer, self.reusable = read_answer(self._reader, method, max_body)
        return answer


def connect(address: str, port: int, host: str, tls, deadline: float,
            dial=socket.create_connection) -> Connection:
    """A connection to `address` (dialled by `dial`, socket.create_connection's signature),
    speaking to `host` (its Host header and, when `tls` gives an ssl.SSLContext, its TLS
    server name and certificate check)."""
    sock = dial((address, port), time_left(deadline))
    try:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return Connection(sock, host_header(host, port, 443 if tls is not None else 80))


def host_header(host: str, port: int, default_port: int) -> str:
    if ":" in host:
        name = f"[{host}]"  # an IPv6 address
    else:  # as http.client: IDNA only for a name that is not ASCII already
        name = host if host.isascii() else host.encode("idna").decode("ascii")
    return name if port == default_port else f"{name}:{port}"


def request_bytes(method: str, host: str, target: str, headers: dict,
                  body: bytes | None) -> bytes:
    """The request's head and body, refusing what would break its framing (ValueError)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    names = {name.lower() for name in headers}
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")  # as http.client: no body to inflate
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if "content-length" not in names and (body is not None or method in ("POST", "PUT", "PATCH")):
        lines.append(f"Content-Length: {len(body or b'')}")
    text = "".join(lines)
    if "\r" in text or "\n" in text or "\0" in text or " " in target \
            or any(not name or ":" in name or " " in name for name in names):
        raise ValueError("a request line or header holds a character that would break it")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b"")


def read_answer(reader, method: str, max_body: int | None) -> tuple[Answer, bool]:
    """The final answer on `reader` (1xx ones skipped) and whether the connection may be
    reused after it."""
    version, status, reason = _status_line(reader)
    while 100 <= status < 200:
        _headers(reader)
        version, status, reason = _status_line(reader)
    headers = _headers(reader)
    keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    if method == "HEAD" or status in (204, 304):
        return Answer(status, reason, headers, b""), keep
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].lower().rsplit(",", 1)[-1].strip() != "chunked":
            return Answer(status, reason, headers, _until_closed(reader, max_body)), False
        body, whole = _chunked(reader, max_body)
        return Answer(status, reason, headers, body), keep and whole
    if "content-length" in headers:
        length = _length(headers["content-length"])
        if max_body is not None and length > max_body:
            return Answer(status, reason, headers, b""), False
        return Answer(status, reason, headers, _exactly(reader, length)), keep
    return Answer(status, reason, headers, _until_closed(reader, max_body)), False


def _line(reader) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("status or header line")
    return line


def _status_line(reader) -> tuple[str, int, str]:
    line = _line(reader)
    if not line:
        raise http.client.RemoteDisconnected("the server closed the connection without an answer")
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise http.client.BadStatusLine(line[:100].decode("latin-1"))
    return version, int(code), reason.strip()


def _headers(reader) -> Headers:
    headers, name = Headers(), None
    for _ in range(MAX_HEADERS + 1):
        line = _line(reader).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            return headers
        if line[0] in " \t" and name is not None:  # an obsolete folded line: more of the last
            headers[name] += " " + line.strip()
            continue
        raw_name, colon, value = line.partition(":")
        if not colon or not raw_name or raw_name != raw_name.strip():
            raise http.client.HTTPException(f"malformed header line {line[:100]!r}")
        name, value = raw_name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


def _length(value: str) -> int:
    values = {part.strip() for part in value.split(",")}  # repeated, it must be one number
    if len(values) != 1 or not (number := values.pop()).isdigit():
        raise http.client.HTTPException(f"invalid Content-Length {value[:100]!r}")
    return int(number)


def _exactly(reader, length: int) -> bytes:
    data = reader.read(length)
    if len(data) < length:
        raise http.client.IncompleteRead(data, length - len(data))
    return data


def _chunked(reader, max_body: int | None) -> tuple[bytes, bool]:
    """The chunks' data, and whether it was read to its end (not cut at `max_body`)."""
    parts, size = [], 0
    while True:
        line = _line(reader).split(b";", 1)[0].strip()
        try:
            length = int(line, 16)
        except ValueError:
            raise http.client.HTTPException(f"invalid chunk size {line[:20]!r}") from None
        if length == 0:
            while _line(reader) not in (b"\r\n", b"\n", b""):  # trailer fields, ignored
                pass
            return b"".join(parts), True
        if max_body is not None and size + length > max_body:
            return b"".join(parts), False
        parts.append(_exactly(reader, length))
        size += length
        if _exactly(reader, 2) != b"\r\n":
            raise http.client.HTTPException("a chunk did not end with CRLF")


def _until_closed(reader, max_body: int | None) -> bytes:
    return reader.read(-1 if max_body is None else max_body)
