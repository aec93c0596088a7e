"""providers/http1.py: an answer's framing (RFC 9112 section 6), read from bytes, and whole
exchanges with a local server that answers what each test scripts."""
import http.client
import io
import socket
import threading
import time

import pytest

from providers import http1


def answer(raw: bytes, method: str = "POST", max_body=None):
    return http1.read_answer(io.BufferedReader(io.BytesIO(raw)), method, max_body)


def test_a_content_length_body_is_read_to_its_length_and_the_rest_left():
    reader = io.BufferedReader(io.BytesIO(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        b"HTTP/1.1 204 No Content\r\n\r\n"))
    (status, reason, headers, body), keep = http1.read_answer(reader, "POST", None)
    assert (status, reason, body, keep) == (200, "OK", b"{}", True)
    assert headers.get("CONTENT-TYPE") == "application/json" and "content-length" in headers
    assert http1.read_answer(reader, "POST", None)[0].status == 204  # the next answer, intact


def test_a_chunked_body_is_joined_its_extensions_and_trailers_ignored():
    (status, _, _, body), keep = answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n")
    assert (status, body, keep) == (200, b"hello world", True)


def test_interim_answers_are_skipped_and_bodiless_statuses_read_no_body():
    (status, _, _, body), keep = answer(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n")
    assert (status, body, keep) == (204, b"", True)
    assert answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method="HEAD")[0].body == b""


def test_a_connection_asked_closed_or_unframed_is_not_reused():
    assert answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[1] is False
    (_, _, _, body), keep = answer(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
    assert (body, keep) == (b"until the end", False)
    (_, _, _, body), keep = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz")
    assert (body, keep) == (b"zz", False)


def test_a_body_past_max_body_is_not_read_and_the_connection_not_kept():
    (_, _, _, body), keep = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
                                   max_body=4)
    assert (body, keep) == (b"", False)
    (_, _, _, body), keep = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", max_body=4)
    assert (body, keep) == (b"abc", False)


def test_folded_and_repeated_headers_are_joined():
    (_, _, headers, _), _ = answer(b"HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\nX-B: 1\r\n"
                                   b"x-b: 2\r\nContent-Length: 0\r\n\r\n")
    assert (headers["x-a"], headers["X-B"]) == ("one two", "1, 2")


@pytest.mark.parametrize("raw, error", [
    (b"", http.client.RemoteDisconnected),
    (b"HTTP/2 200 OK\r\n\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 20 OK\r\n\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", http.client.HTTPException),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", http.client.IncompleteRead),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.HTTPException),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", http.client.HTTPException),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", http.client.HTTPException),
    (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", http.client.HTTPException),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", http.client.LineTooLong),
])
def test_a_malformed_answer_raises_http_clients_own_errors(raw, error):
    with pytest.raises(error):
        answer(raw)


def test_a_request_is_one_block_with_host_length_and_identity_encoding():
    sent = http1.request_bytes("POST", "example.com:8080", "/v1/x?a=1",
                               {"Content-Type": "application/json"}, b'{"a":1}')
    assert sent == (b"POST /v1/x?a=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
                    b"Accept-Encoding: identity\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 7\r\n\r\n{\"a\":1}")
    assert http1.host_header("::1", 443, 443) == "[::1]"
    assert http1.host_header("bücher.example", 80, 80) == "xn--bcher-kva.example"


@pytest.mark.parametrize("headers, target", [
    ({"X-Evil": "a\r\nX-Injected: 1"}, "/"), ({"X-Evil": "a\nb"}, "/"),
    ({"Bad:Name": "1"}, "/"), ({"X": "1"}, "/a b"), ({"X": "1"}, "/a\r\nb"),
])
def test_a_header_or_target_that_would_break_the_request_is_refused(headers, target):
    with pytest.raises(ValueError):
        http1.request_bytes("POST", "example.com", target, headers, b"")


class Scripted:
    """A server on loopback answering each request on a connection with the next of
    `answers` (bytes, or a callable given the socket); it records what it read."""

    def __init__(self, answers):
        self.answers, self.requests, self.connections = list(answers), [], 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.answers:
            sock, _ = self.server.accept()
            self.connections += 1
            with sock, sock.makefile("rb") as reader:
                while self.answers:
                    head = b"".join(iter(reader.readline, b"\r\n"))
                    if not head:
                        break
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    self.requests.append(head + b"\r\n" + reader.read(length))
                    reply = self.answers.pop(0)
                    reply(sock) if callable(reply) else sock.sendall(reply)


def test_an_exchange_leaves_the_connection_ready_for_the_next():
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
                       b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\ntwo"])
    deadline = time.monotonic() + 5
    conn = http1.connect("127.0.0.1", server.port, "127.0.0.1", None, deadline)
    first = conn.exchange("POST", "/a", {"X-N": "1"}, b"1", deadline)
    assert conn.reusable
    second = conn.exchange("POST", "/b", {"X-N": "2"}, b"2", deadline)
    conn.close()
    assert (first.body, second.status, second.body) == (b"one", 201, b"two")
    assert server.connections == 1 and server.requests[1].startswith(b"POST /b HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:%d\r\n" % server.port in server.requests[0]


def test_an_answer_dripping_past_the_deadline_times_out_at_the_deadline():
    def drip(sock):
        try:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                sock.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            pass  # the client gave up, as it should
    server = Scripted([drip])
    started = time.monotonic()
    conn = http1.connect("127.0.0.1", server.port, "127.0.0.1", None, started + 0.5)
    with pytest.raises(TimeoutError):
        conn.exchange("POST", "/", {}, b"", started + 0.5)
    conn.close()
    assert time.monotonic() - started < 1.5  # each read waited only for what was left
