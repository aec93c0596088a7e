"""Provider calls on kept http.client connections (providers/transport.py), against a real
local HTTP/1.1 server that records which connection each request came on."""
import http.client
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.transport import DirectTransport
from providers.wire import certifi_context


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.client_address[1], self.path, body))
        self.server.connections.append(self.connection)
        if self.server.fail_next:
            self.server.fail_next = False
            self.close_connection = True  # hang up without an answer
            return
        answer = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def _serve(tls=None) -> ThreadingHTTPServer:
    """The recording server on a thread (over TLS given a server context)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.seen, httpd.connections, httpd.fail_next = [], [], False
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _stop(httpd) -> None:
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server():
    httpd = _serve()
    yield httpd
    _stop(httpd)


def _url(server, path="/v1/chat?x=1"):
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_calls_share_one_kept_connection_and_read_the_whole_answer(server):
    transport = DirectTransport(certifi_context)
    answers = [transport.request("POST", _url(server), b"{}", {}, 5) for _ in range(3)]
    assert [(status, content) for status, _r, _h, content in answers] == [(200, b'{"ok": true}')] * 3
    assert answers[0][2]["content-type"] == "application/json"  # names in any case
    assert {port for port, _p, _b in server.seen} == {server.seen[0][0]}
    assert [path for _port, path, _b in server.seen] == ["/v1/chat?x=1"] * 3


def test_a_connection_the_server_closed_while_idle_is_replaced_before_use(server):
    transport = DirectTransport(certifi_context)
    transport.request("POST", _url(server), b"{}", {}, 5)
    (conn, _since), = next(iter(transport.kept.idle.values()))
    server.connections[0].shutdown(socket.SHUT_RDWR)  # the server ends the idle connection
    assert select.select([conn.sock], [], [], 5)[0]  # its end reached the client
    status, *_ = transport.request("POST", _url(server), b"{}", {}, 5)
    assert status == 200 and len({port for port, _p, _b in server.seen}) == 2


def test_a_call_whose_exchange_fails_is_not_sent_again(server):
    transport = DirectTransport(certifi_context)
    server.fail_next = True
    with pytest.raises(http.client.RemoteDisconnected):
        transport.request("POST", _url(server), b"{}", {}, 5)
    assert len(server.seen) == 1 and not transport.kept.idle.get(
        ("http", "127.0.0.1", server.server_address[1], "127.0.0.1"))


def test_a_target_http_client_would_refuse_is_percent_encoded(server):
    transport = DirectTransport(certifi_context)
    transport.request("POST", _url(server, "/v1/files/a b?name=c d"), b"{}", {}, 5)
    assert server.seen[0][1] == "/v1/files/a%20b?name=c%20d"


def test_only_http_and_https_urls_are_sent():
    with pytest.raises(ValueError):
        DirectTransport(certifi_context).request("POST", "htp:/nowhere", b"", {}, 1)



def test_https_calls_check_the_certificate_against_the_operators_bundle(
        tmp_path, monkeypatch):
    from providers.base import ProviderConnectionError
    from providers.wire import Client
    from tests.tls import self_signed

    cert, context = self_signed(tmp_path, "localhost")
    httpd = _serve(context)
    base = f"https://localhost:{httpd.server_address[1]}/v1"
    try:
        for name in ("HTTPS_PROXY", "https_proxy", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        assert Client("local", base, "k").json("POST", "/chat", 5, json={}) == {"ok": True}
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # certifi's CAs do not know this one
        with pytest.raises(ProviderConnectionError):
            Client("local", base, "k").json("POST", "/chat", 5, json={})
    finally:
        _stop(httpd)
