"""A local emulator of the provider APIs our adapters speak, with fault injection.

Run it with `python -m providers.emulator --port 9100`, or in-process (tests):

    with Emulator() as emulator:
        emulator.base_urls()      # {"GROQ": "http://127.0.0.1:PORT/groq/openai/v1", ...}
        emulator.fault("groq", "status", status=500)
"""
from __future__ import annotations

import threading

from .faults import Faults
from .server import EmulatorServer

#: backend env name -> the path after the origin, shaped like the provider's real base URL
BASE_PATHS = {"GROQ": "/groq/openai/v1", "DEEPINFRA": "/deepinfra/v1/openai",
              "FIREWORKS": "/fireworks/inference/v1", "TOGETHER": "/together/v1",
              "REPLICATE": "/replicate/v1", "JINA": "/jina/v1", "RUNPOD": "/runpod/v2"}


class Emulator:
    """The emulator server on a thread; `port=0` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.server = EmulatorServer((host, port))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def base_urls(self) -> dict[str, str]:
        return {name: self.origin + path for name, path in BASE_PATHS.items()}

    def env(self, key: str = "emulated") -> dict[str, str]:
        """<BACKEND>_API_KEY and <BACKEND>_BASE_URL for every remote backend."""
        found = {}
        for name, url in self.base_urls().items():
            found[f"{name}_API_KEY"] = key
            found[f"{name}_BASE_URL"] = url
        return found

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def fault(self, backend: str, kind: str, **spec) -> None:
        self.faults.add({"backend": backend, "kind": kind, **spec})

    def requests(self, backend: str | None = None) -> list[dict]:
        with self.server.log_lock:
            return [r for r in self.server.log if backend in (None, r["backend"])]

    def reset(self) -> None:
        """Clear faults and the request log."""
        self.faults.clear()
        with self.server.log_lock:
            self.server.log.clear()

    def start(self) -> "Emulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
