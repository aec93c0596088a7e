"""B7: the sender's CPU per HTTPS webhook POST with one TLS context per process / with a new
default context per connection (what http.client does when it is given none).

Production receivers are HTTPS, and B3's receiver is plain HTTP, so B3 cannot see what TLS
costs a worker. Each POST here goes through providers.media.post_once, as a webhook attempt
does: resolve, check, pin, connect, handshake, send, read the status, close. The client trusts
the system's CA bundle plus the receiver's self-signed certificate (SSL_CERT_FILE), so that
loading the trusted CAs costs what it costs in production. The receiver runs on threads of
this process; only the sending thread's CPU is counted (time.thread_time). That receiver
closes each connection (HTTP/1.0); for reference, the same rounds also time plain HTTP, and
HTTPS to a receiver that keeps its connections open (HTTP/1.1), whose POSTs after the first
reuse one connection (providers/keepalive.py).
"""
import os
import ssl
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median

from common import interleave, report

from providers import media
from providers.urlguard import UrlPolicy

POSTS = int(os.environ.get("B7_POSTS", "40"))
HOST = "hooks.test"
POLICY = UrlPolicy(allow_private=True, timeout=10)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class KeepingReceiver(Receiver):
    protocol_version = "HTTP/1.1"


def serve(tls: ssl.SSLContext | None, handler=Receiver) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def trust_receiver(folder: Path) -> ssl.SSLContext:
    """A certificate for HOST, trusted beside the system's CAs; the receiver's TLS context."""
    key, cert, bundle = folder / "key.pem", folder / "cert.pem", folder / "bundle.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    system = Path(ssl.get_default_verify_paths().cafile or "/nonexistent")
    bundle.write_bytes((system.read_bytes() if system.exists() else b"") + cert.read_bytes())
    os.environ["SSL_CERT_FILE"] = str(bundle)
    media.tls_context.cache_clear()
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    return server_side


@contextmanager
def context_per_connection():
    """post_once as it was: a default context, and so the CA bundle, for each connection."""
    shared = media.tls_context
    media.tls_context = ssl.create_default_context
    try:
        yield
    finally:
        media.tls_context = shared


def cpu_ms_per_post(url: str, readings: list) -> float:
    resolve = lambda host, port: ["127.0.0.1"]  # noqa: E731 (the receiver is local)
    started = time.thread_time()
    for _ in range(POSTS):
        status, _ = media.post_once(url, b'{"type": "job.completed"}',
                                    {"Content-Type": "application/json"}, POLICY, resolve)
        assert status == 204, status
    used = 1000 * (time.thread_time() - started) / POSTS
    readings.append(used)
    return used


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tls = trust_receiver(Path(folder))
        servers = serve(tls), serve(None), serve(tls, KeepingReceiver)
        https, http, kept = (f"{scheme}://{HOST}:{server.server_address[1]}/hook"
                             for scheme, server in zip(("https", "http", "https"), servers))
        shared, fresh, clear, reused = [], [], [], []

        def per_connection() -> float:
            cpu_ms_per_post(http, clear)  # the references, in the same rounds
            cpu_ms_per_post(kept, reused)
            with context_per_connection():
                return cpu_ms_per_post(https, fresh)
        cpu_ms_per_post(https, []), per_connection()  # warm-up
        clear.clear(), reused.clear()
        ratios = interleave(lambda: cpu_ms_per_post(https, shared), per_connection)
        report("B7", "sender CPU per HTTPS webhook, one TLS context per process / a new "
               "one per connection", ratios)
        print(f"B7: sender CPU ms per POST: HTTPS {median(shared):.2f}, HTTPS with a context "
              f"per connection {median(fresh):.2f}, plain HTTP {median(clear):.2f}, HTTPS on "
              f"a kept connection {median(reused):.2f}")
        for server in servers:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
