"""The media fetcher: the private-address guard, pinning, redirects, limits and data: URIs."""
from __future__ import annotations

import base64
import http.server
import ssl
import threading
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from providers.base import PermanentProviderError, RetryableProviderError
from providers.media import fetch_media, post_once, tls_context
from providers.urlguard import (UnsafeUrlError, UrlPolicy, address_refusal, check_url,
                                system_resolver)
from tests.tls import self_signed

STRICT = UrlPolicy()
DEV = UrlPolicy(allow_private=True)


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes for the fetch tests; HTTP/1.0, so a body without length ends at close."""

    seen_hosts: list[str] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        Handler.seen_hosts.append(self.headers["Host"])
        route = getattr(self, "route_" + parts.path.strip("/").split("/")[0], self.route_missing)
        route(parts.path.split("/")[2:], parse_qs(parts.query))

    def send(self, status, body=b"", kind="application/octet-stream", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route_ok(self, args, query):
        self.send(200, b"\x89PNG fake image", "image/png; charset=binary")

    def route_status(self, args, query):
        self.send(int(args[0]), b"nope")

    def route_chain(self, args, query):  # /chain/N redirects N times, then serves /ok
        n = int(args[0])
        self.send(302, headers=[("Location", f"/chain/{n - 1}" if n > 1 else "/ok")])

    def route_to(self, args, query):
        self.send(302, headers=[("Location", query["u"][0])])

    def route_big(self, args, query):  # no Content-Length: the limit must hold while streaming
        self.send(200, b"x" * 5000)

    def route_declared(self, args, query):
        self.send(200, b"x", headers=[("Content-Length", str(10**9))])

    def route_slow(self, args, query):
        time.sleep(1.5)
        self.send(200, b"late")

    def route_drip(self, args, query):  # each byte is quick, the whole body is not
        self.send_response(200)
        self.end_headers()
        for _ in range(30):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.1)

    def route_drip_headers(self, args, query):  # a status line, then a header byte by byte
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
        for _ in range(30):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.1)
        self.wfile.write(b"\r\n\r\n")

    def route_missing(self, args, query):
        self.send(404)

    do_POST = do_GET


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hanging up early is the point
        pass


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fixed(table: dict[str, list[str]]):
    """A resolver answering from `table` (other hosts: the system's), counting its lookups."""
    def resolve(host, port):
        resolve.calls.append(host)
        return table[host] if host in table else system_resolver(host, port)
    resolve.calls = []
    return resolve


# --- the address guard ------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.1.2.3:8080/x", "http://10.0.0.1/", "http://172.16.5.4/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/",
    "http://100.64.0.1/", "http://224.0.0.1/", "http://240.0.0.1/", "http://255.255.255.255/",
    "http://[::1]/", "http://[::]/", "http://[fd12:3456::1]/", "http://[fe80::1]/",
    "http://[ff02::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/",
    "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/", "http://2130706433/",
    "http://0x7f000001/", "http://localhost/", "https://localhost:8443/a?b=c",
])
def test_private_and_special_addresses_are_refused(url):
    with pytest.raises(UnsafeUrlError, match="refused"):
        check_url(url, STRICT)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "javascript:alert(1)",
    "//example.com/x", "http:///nohost", "http://example.com:99999/",
])
def test_other_schemes_and_malformed_urls_are_refused(url):
    with pytest.raises(UnsafeUrlError):
        check_url(url, STRICT)


def test_public_literal_addresses_pass():
    check_url("https://8.8.8.8/image.png", STRICT)
    check_url("http://[2606:4700:4700::1111]/", STRICT)


def test_one_private_address_among_public_ones_refuses_the_url():
    resolve = fixed({"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(UnsafeUrlError, match="10.1.2.3"):
        check_url("https://mixed.test/a.png", STRICT, resolve)


def test_allow_private_admits_loopback_and_private_but_never_link_local():
    check_url("http://127.0.0.1:5000/", DEV)
    check_url("http://10.0.0.7/", DEV)
    check_url("http://[fd00::1]/", DEV)
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://224.0.0.1/",
                "http://0.0.0.0/"):
        with pytest.raises(UnsafeUrlError):
            check_url(url, DEV)


def test_address_refusal_explains():
    assert "loopback or private" in address_refusal("127.0.0.1", STRICT)
    assert address_refusal("1.1.1.1", STRICT) is None


def test_data_uris_need_no_resolution():
    check_url("data:image/png;base64,AAAA", STRICT)


# --- data: URIs --------------------------------------------------------------------------------

def test_base64_data_uri():
    raw = b"\x00\x01binary"
    payload = base64.b64encode(raw).decode()
    assert fetch_media(f"data:image/PNG;base64,{payload}", STRICT) == (raw, "image/png")
    assert fetch_media(f"data:;base64,{payload}", STRICT) == (raw, "text/plain")


def test_percent_encoded_data_uri_defaults_to_text_plain():
    assert fetch_media("data:,hello%20world%21", STRICT) == (b"hello world!", "text/plain")


def test_data_uri_errors():
    with pytest.raises(PermanentProviderError, match="base64"):
        fetch_media("data:image/png;base64,@@@@", STRICT)
    with pytest.raises(PermanentProviderError, match="no comma"):
        fetch_media("data:image/png;base64", STRICT)
    with pytest.raises(PermanentProviderError, match="too large"):
        too_big = base64.b64encode(b"x" * 101).decode()
        fetch_media(f"data:;base64,{too_big}", UrlPolicy(max_bytes=100))


# --- http(s) fetches -----------------------------------------------------------------------------

def test_fetch_returns_body_and_media_type(server):
    assert fetch_media(f"{server}/ok", DEV) == (b"\x89PNG fake image", "image/png")


def test_loopback_server_is_refused_without_allow_private(server):
    with pytest.raises(UnsafeUrlError):
        fetch_media(f"{server}/ok", STRICT)


def test_connection_is_pinned_to_the_checked_address(server):
    port = urlsplit(server).port
    resolve = fixed({"media.test": ["127.0.0.1"]})
    Handler.seen_hosts.clear()
    body, _ = fetch_media(f"http://media.test:{port}/ok", DEV, resolve)
    assert body.startswith(b"\x89PNG")
    assert resolve.calls == ["media.test"]  # one lookup: nothing re-resolves before connecting
    assert Handler.seen_hosts == [f"media.test:{port}"]  # the original Host header


def test_client_errors_are_permanent_and_server_errors_retryable(server):
    with pytest.raises(PermanentProviderError, match=r"could not fetch .*/status/404: HTTP 404"):
        fetch_media(f"{server}/status/404", DEV)
    with pytest.raises(RetryableProviderError, match="HTTP 503"):
        fetch_media(f"{server}/status/503", DEV)
    with pytest.raises(RetryableProviderError, match="HTTP 429"):
        fetch_media(f"{server}/status/429", DEV)


def test_connection_refused_is_retryable():
    with pytest.raises(RetryableProviderError):
        fetch_media("http://127.0.0.1:9/", DEV)  # the discard port: nothing listens


def test_redirects_are_followed_up_to_three(server):
    assert fetch_media(f"{server}/chain/3", DEV)[0].startswith(b"\x89PNG")
    with pytest.raises(PermanentProviderError, match="redirects"):
        fetch_media(f"{server}/chain/4", DEV)


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://metadata.test/",
    "http://mixed.test/", "file:///etc/passwd", "data:text/plain,hi",
])
def test_each_redirect_target_is_checked_again(server, target):
    port = urlsplit(server).port
    resolve = fixed({"first.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"],
                     "mixed.test": ["8.8.8.8", "169.254.1.1"]})
    with pytest.raises(UnsafeUrlError):
        fetch_media(f"http://first.test:{port}/to?u={quote(target)}", DEV, resolve)


def test_size_limit_holds_while_streaming_and_on_declared_length(server):
    small = UrlPolicy(allow_private=True, max_bytes=1000)
    with pytest.raises(PermanentProviderError, match="too large"):
        fetch_media(f"{server}/big", small)
    with pytest.raises(PermanentProviderError, match="too large"):
        fetch_media(f"{server}/declared", small)
    assert len(fetch_media(f"{server}/big", DEV)[0]) == 5000


def test_timeouts_are_retryable(server):
    quick = UrlPolicy(allow_private=True, timeout=0.5)
    with pytest.raises(RetryableProviderError, match="timed out"):
        fetch_media(f"{server}/slow", quick)
    started = time.monotonic()
    with pytest.raises(RetryableProviderError, match="timed out"):
        fetch_media(f"{server}/drip", quick)
    assert time.monotonic() - started < 1.5  # the deadline, not the per-read timeout, ended it


def test_a_post_ends_at_its_deadline_however_slowly_the_answer_drips(server):
    quick = UrlPolicy(allow_private=True, timeout=0.5)
    assert post_once(f"{server}/ok", b"{}", {}, quick)[0] == 200
    started = time.monotonic()
    with pytest.raises(TimeoutError):  # each byte comes well within the per-read timeout
        post_once(f"{server}/drip_headers", b"{}", {}, quick)
    assert time.monotonic() - started < 1.5  # the deadline ended it, not the 3 s of drip


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS server for media.test with a self-signed certificate: (port, the certificate's
    path, the server names clients asked for). The module's TLS context is rebuilt around it,
    so a test may trust the certificate through SSL_CERT_FILE."""
    cert, context = self_signed(tmp_path, "media.test")
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tls_context.cache_clear()
    yield httpd.server_address[1], cert, names
    tls_context.cache_clear()
    httpd.shutdown()
    httpd.server_close()


def test_https_uses_the_host_name_for_sni_and_verifies_the_certificate(tls_receiver):
    port, _cert, names = tls_receiver
    with pytest.raises(PermanentProviderError, match="certificate"):  # self-signed: refused
        fetch_media(f"https://media.test:{port}/ok", DEV, fixed({"media.test": ["127.0.0.1"]}))
    assert names == ["media.test"]


def test_a_receiver_whose_certificate_is_trusted_gets_the_post(tls_receiver, monkeypatch):
    port, cert, names = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted as the system's CAs would be
    status, _headers = post_once(f"https://media.test:{port}/ok", b"{}", {}, DEV,
                                 fixed({"media.test": ["127.0.0.1"]}))
    assert status == 200 and names == ["media.test"]


def test_the_trusted_cas_are_loaded_once_per_process_not_per_connection(tls_receiver,
                                                                         monkeypatch):
    port, cert, _names = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    built, default = [], ssl.create_default_context

    def counted(*args, **kwargs):
        built.append(1)
        return default(*args, **kwargs)
    # http.client's own default for a connection given no context goes through the second
    monkeypatch.setattr(ssl, "create_default_context", counted)
    monkeypatch.setattr(ssl, "_create_default_https_context", counted)
    resolve = fixed({"media.test": ["127.0.0.1"]})
    for _ in range(3):
        assert post_once(f"https://media.test:{port}/ok", b"{}", {}, DEV, resolve)[0] == 200
    assert fetch_media(f"https://media.test:{port}/ok", DEV, resolve)[1] == "image/png"
    assert len(built) == 1
