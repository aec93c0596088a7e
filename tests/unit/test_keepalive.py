"""Webhook POSTs keep their connection for the next POST to the same checked address."""
from __future__ import annotations

import http.server
import os
import select
import socket
import ssl
import threading

import pytest

from providers import keepalive
from providers.keepalive import KeptConnections
from providers.media import post_once, tls_context
from providers.urlguard import UrlPolicy
from tests.tls import self_signed

DEV = UrlPolicy(allow_private=True, timeout=5)


def local(host, port):
    return ["127.0.0.1"]


class Counting(http.server.ThreadingHTTPServer):
    """Counts the connections it accepts and the requests it reads."""

    daemon_threads = True

    def __init__(self, handler, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.connections, self.requests = 0, []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def process_request(self, request, client_address):
        self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        pass

    def stop(self):
        self.shutdown()
        self.server_close()


class KeepAlive(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 receiver that keeps connections open, as most do."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(body)
        if self.answer():
            self.send_response(204)
            self.end_headers()
        else:
            self.close_connection = True

    def answer(self) -> bool:
        return True

    def log_message(self, *args):
        pass


class OneShot(KeepAlive):
    """An HTTP/1.0 receiver: it closes every connection after its answer."""

    protocol_version = "HTTP/1.0"


class ClosesWhenIdle(KeepAlive):
    """Closes a connection idle for a moment, as receivers do after 5 to 75 s."""

    timeout = 0.1


class DropsTheSecond(KeepAlive):
    """Closes the connection, unanswered, on reading its second request (as if its idle
    timer had fired just as the request came)."""

    def answer(self) -> bool:
        self.seen = getattr(self, "seen", 0) + 1
        return self.seen != 2


class Idle:
    """Stands for a kept connection: its socket, and a record of its closing."""

    def __init__(self, sock: socket.socket):
        self.sock, self.closed = sock, False

    def close(self):
        self.closed = True


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


@pytest.fixture
def receiver():
    """Starts a Counting server with the given handler (and TLS); all stop after the test."""
    started = []

    def start(handler, tls: ssl.SSLContext | None = None) -> Counting:
        started.append(Counting(handler, tls))
        return started[-1]
    yield start
    for server in started:
        server.stop()


@pytest.fixture
def kept():
    connections = KeptConnections()
    yield connections
    connections.close_all()


def post(port: int, kept: KeptConnections, body: bytes = b"{}", scheme: str = "http",
         host: str = "hooks.test") -> int:
    return post_once(f"{scheme}://{host}:{port}/in", body, {}, DEV, local, kept)[0]


def test_a_receiver_that_keeps_connections_open_gets_posts_on_one(receiver, kept):
    server = receiver(KeepAlive)
    assert [post(server.server_address[1], kept, body) for body in (b"1", b"2", b"3")] \
        == [204] * 3
    assert server.requests == [b"1", b"2", b"3"] and server.connections == 1


def test_a_receiver_that_closes_each_connection_gets_a_new_one_each_time(receiver, kept):
    server = receiver(OneShot)
    assert post(server.server_address[1], kept) == post(server.server_address[1], kept) == 204
    assert server.connections == 2 and not kept.idle.get(
        ("http", "hooks.test", server.server_address[1], "127.0.0.1"))


def test_a_connection_the_receiver_closed_while_idle_is_replaced(receiver, kept):
    server = receiver(ClosesWhenIdle)
    port = server.server_address[1]
    assert post(port, kept) == 204
    (conn, _since), = kept.idle[("http", "hooks.test", port, "127.0.0.1")]
    assert select.select([conn.sock], [], [], 5)[0]  # the receiver's FIN has come
    assert post(port, kept) == 204
    assert server.connections == 2 and server.requests == [b"{}", b"{}"]


def test_a_post_the_receiver_drops_on_a_kept_connection_is_sent_again_once(receiver, kept):
    server = receiver(DropsTheSecond)
    port = server.server_address[1]
    assert post(port, kept, b"first") == 204
    assert post(port, kept, b"second") == 204  # dropped, then answered on a new connection
    assert server.requests == [b"first", b"second", b"second"]
    assert server.connections == 2


def test_a_kept_connection_serves_only_an_address_just_checked(pair):
    conn, kept = Idle(pair[0]), KeptConnections()
    kept.give(("https", "hooks.test", 443, "203.0.113.7"), conn)
    assert kept.take("https", "hooks.test", 443, ["198.51.100.9"]) is None  # DNS moved
    assert kept.take("https", "other.test", 443, ["203.0.113.7"]) is None  # another host
    assert kept.take("https", "hooks.test", 443, ["198.51.100.9", "203.0.113.7"]) == (
        conn, ("https", "hooks.test", 443, "203.0.113.7"))


def test_a_connection_idle_too_long_is_closed_not_reused(pair):
    now = [0.0]
    conn, kept = Idle(pair[0]), KeptConnections(clock=lambda: now[0])
    kept.give(("http", "hooks.test", 80, "203.0.113.7"), conn)
    now[0] = keepalive.IDLE_SECONDS + 1
    assert kept.take("http", "hooks.test", 80, ["203.0.113.7"]) is None and conn.closed


@pytest.fixture
def trusted_tls(tmp_path, monkeypatch):
    """A server context for hooks.test whose certificate this process trusts, for the test."""
    cert, server_side = self_signed(tmp_path, "hooks.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    tls_context.cache_clear()
    yield server_side
    tls_context.cache_clear()


def test_https_posts_share_one_connection_and_one_handshake(trusted_tls, receiver, kept):
    handshakes = []
    trusted_tls.sni_callback = lambda sock, name, ctx: handshakes.append(name)
    server = receiver(KeepAlive, trusted_tls)
    port = server.server_address[1]
    assert [post(port, kept, scheme="https") for _ in range(3)] == [204] * 3
    assert server.connections == 1 and handshakes == ["hooks.test"]


def test_a_connection_whose_receiver_hung_up_is_closed_when_taken(pair):
    conn, kept = Idle(pair[0]), KeptConnections()
    kept.give(("http", "hooks.test", 80, "203.0.113.7"), conn)
    pair[1].shutdown(socket.SHUT_WR)  # the receiver's FIN: the kept socket turns readable
    assert kept.take("http", "hooks.test", 80, ["203.0.113.7"]) is None and conn.closed


def test_a_forked_child_starts_with_no_connections_and_a_free_lock(pair):
    kept = KeptConnections()
    kept.give(("http", "hooks.test", 80, "203.0.113.7"), Idle(pair[0]))
    readable, writable = os.pipe()
    with kept.lock:  # held by the parent as it forks
        child = os.fork()
        if child == 0:  # pragma: no cover (the child's report comes through the pipe)
            fresh = not kept.idle and kept.lock.acquire(blocking=False)
            os.write(writable, b"1" if fresh else b"0")
            os._exit(0)
    os.waitpid(child, 0)
    assert os.read(readable, 1) == b"1" and len(kept.idle) == 1  # the parent keeps its own
    os.close(readable)
    os.close(writable)
