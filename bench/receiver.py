"""B3's webhook receiver: counts the POSTs it answers, at little CPU of its own.

A receiver stands for the customer's server, on another machine; here it shares the two cores
with what B3 measures, so what it spends is taken from the pipeline and the floor alike. This
one is an asyncio protocol on a thread of its own: it reads each request's head and body by its
Content-Length, answers 204 and keeps the connection open (HTTP/1.1), as production receivers
do. http.server's threaded handler spent about 0.1 ms of CPU a POST more (README, B3).
"""
from __future__ import annotations

import asyncio
import threading

ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class _Connection(asyncio.Protocol):
    def __init__(self, receiver: "Receiver"):
        self.receiver, self.buffer = receiver, b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            size = _content_length(self.buffer[:end])
            if len(self.buffer) < end + 4 + size:
                return  # the body is still coming
            self.buffer = self.buffer[end + 4 + size:]
            self.transport.write(ANSWER)
            self.receiver.count()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Receiver:
    """`url` takes webhook POSTs; `received` counts them since the last `reset`."""

    def __init__(self):
        self.received = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(self._loop.create_server(
            lambda: _Connection(self), "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook"
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def count(self) -> None:
        with self._lock:
            self.received += 1

    def reset(self) -> None:
        with self._lock:
            self.received = 0
