"""The emulator's HTTP server: routes by path suffix, applies faults, logs requests.

URLs are `http://HOST:PORT/<backend>/<the provider's own path>`; the first segment names the
backend (for per-backend faults and the log), the end of the path picks the protocol.
Control: POST/GET/DELETE /_faults, GET/DELETE /_log, GET /_files/<name>.<png|wav|mp4>.
"""
from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import protocols
from .faults import Faults
from .media import FILES

OPENAI = {"/chat/completions": protocols.chat, "/embeddings": protocols.embeddings,
          "/images/generations": protocols.images,
          "/audio/transcriptions": protocols.transcriptions, "/audio/speech": protocols.speech,
          "/rerank": protocols.rerank}


@dataclass
class Request:
    backend: str
    method: str
    path: str
    json: dict
    raw: bytes
    headers: dict
    origin: str


def output_kinds() -> dict[str, str]:
    """Upstream model or endpoint -> the output kind of the service the catalog uses it for."""
    from app.catalog import load_catalog

    catalog = load_catalog()
    kinds = {}
    for service in catalog.services.values():
        for step in service.chain:
            for upstream in [step.model, *step.models.values()]:
                if upstream:
                    kinds.setdefault(upstream, service.output)
                    kinds.setdefault(upstream.split(":", 1)[-1], service.output)
    return kinds


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address):
        super().__init__(address, Handler)
        self.faults = Faults()
        self.log: list[dict] = []
        self.log_lock = threading.Lock()
        self.kinds = output_kinds()


class Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK of the headers (~40 ms on Linux) on a kept-alive connection:
    # a latency no real provider adds, which made "0 ms" calls take tens of milliseconds.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet: the /_log endpoint tells what happened
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path.startswith("/_"):
            return self._send(*self._control(method, path, raw))
        backend = path.strip("/").split("/", 1)[0]
        with self.server.log_lock:
            self.server.log.append({"backend": backend, "method": method, "path": path,
                                    "headers": dict(self.headers)})
        fault = self.server.faults.take(backend, path)
        if fault and fault.get("seconds") and fault["kind"] in ("latency", "status"):
            time.sleep(float(fault["seconds"]))
        if fault and fault["kind"] in ("hang", "reset", "malformed", "status"):
            return self._fault(fault)
        self._send(*self._route(method, path, raw, backend, fault))

    def _route(self, method, path, raw, backend, fault):
        try:
            body = json.loads(raw) if raw and "json" in (self.headers.get("Content-Type") or "") \
                else {}
        except ValueError:
            return protocols.reply({"error": {"message": "invalid JSON body"}}, 400)
        origin = f"http://{self.headers.get('Host')}"
        req = Request(backend, method, path, body, raw, dict(self.headers), origin)
        for suffix, handler in OPENAI.items():
            if path.endswith(suffix) and method == "POST":
                return handler(req)
        kinds = self.server.kinds
        if method == "POST" and path.endswith("/predictions"):
            return protocols.create_prediction(req, kinds, fault)
        if re.search(r"/predictions/[^/]+(/cancel)?$", path):
            return protocols.get_prediction(req, kinds, cancel=path.endswith("/cancel"))
        if re.search(r"/(run|status/[^/]+|cancel/[^/]+)$", path):
            return protocols.runpod(req, kinds, fault)
        return protocols.reply({"error": {"message": f"no route for {method} {path}"}}, 404)

    def _fault(self, fault: dict) -> None:
        kind = fault["kind"]
        if kind == "hang":
            time.sleep(float(fault.get("seconds", 30)))
            return self._drop(reset=False)
        if kind == "reset":
            return self._drop(reset=True)
        if kind == "malformed":
            return self._send(200, "application/json", b'{"choices": [', {})
        status = int(fault.get("status", 500))
        headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
        message = fault.get("message") or f"emulated HTTP {status}"
        body = {"error": {"message": message, "type": "emulated"}, "detail": message}
        self._send(*protocols.reply(body, status, headers))

    def _drop(self, reset: bool) -> None:
        if reset:  # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def _control(self, method: str, path: str, raw: bytes):
        if path == "/_faults":
            if method == "POST":
                try:
                    self.server.faults.add(json.loads(raw or b"{}"))
                except ValueError as exc:
                    return protocols.reply({"error": str(exc)}, 400)
            elif method == "DELETE":
                self.server.faults.clear()
            return protocols.reply({"faults": self.server.faults.listed()})
        if path == "/_log":
            with self.server.log_lock:
                if method == "DELETE":
                    self.server.log.clear()
                return protocols.reply({"requests": list(self.server.log)})
        match = re.fullmatch(r"/_files/([0-9a-zA-Z_-]+)\.(png|wav|mp4)", path)
        if match and match.group(2) in FILES:
            media_type, make = FILES[match.group(2)]
            return 200, media_type, make(match.group(1)), {}
        return protocols.reply({"error": "unknown control path"}, 404)

    def _send(self, status: int, content_type: str, body: bytes, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
