"""Start the servers a command needs, run it, and stop everything when it ends or we are told to.

Shutdown order: the command's process group first (it uses the servers), then any descendant
it orphaned, then Redis and PostgreSQL. Nothing started here outlives this process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from .layout import REPO, AlreadyRunning, InstanceLock, Layout, write_env_file
from .postgres_server import EmbeddedPostgres
from .procs import (StartError, become_subreaper, exit_code, run_to_end, signal_group, spawn,
                    sweep_children)
from .redis_server import EmbeddedRedis

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How long the command gets to stop after the first signal before its group is killed.
CHILD_STOP_SECONDS = 15.0
POLL_SECONDS = 0.25


class Stopped(Exception):
    """Raised by the signal handler while we start up: unwind and stop what already runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """SIGINT/SIGTERM/SIGHUP: abort the start-up, then forward to the command, then note only."""

    def __init__(self):
        self.received: list[int] = []
        self.first_at: float | None = None
        self._child: subprocess.Popen | None = None
        self._raising = True

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def hold(self) -> None:
        """Note signals instead of raising (around spawning the command, and in teardown)."""
        self._raising = False

    def attach(self, child: subprocess.Popen) -> None:
        """Forward signals to `child`'s group from now on, including any noted meanwhile."""
        self._child = child
        if self.received:
            self.forward(self.received[-1])

    def detach(self) -> None:
        self._child = None

    def forward(self, signum: int) -> None:
        if self._child is None:
            return
        if self.first_at is None:
            self.first_at = time.monotonic()
        if len(self.received) > 1:
            signum = signal.SIGKILL  # a second signal means "now", not "when you are done"
        elif signum == signal.SIGHUP:
            signum = signal.SIGTERM  # what our commands (honcho, pytest) stop cleanly on
        signal_group(self._child.pid, signum)

    def _handle(self, signum: int, frame) -> None:
        self.received.append(signum)
        if self._child is not None:
            self.forward(signum)
        elif self._raising:
            raise Stopped(signum)


def main(mode: str, argv: list[str]) -> int:
    """Run `argv` with DATABASE_URL and REDIS_URL set; `mode` is "run" or "test"."""
    signals = Signals()
    signals.install()
    parent = os.getppid()
    with ExitStack() as teardown:
        try:
            env, servers = _start_services(mode, teardown)
            if mode == "run":
                _migrate(env)
            return _supervise(argv, env, signals, parent, keep={s.proc.pid for s in servers})
        except Stopped as stopped:
            _say(f"{stopped} received while starting: stopping")
            return 128 + stopped.signum
        except AlreadyRunning as exc:
            _say(f"another instance ({exc}) already uses {Layout.for_mode(mode, os.environ).root}"
                 "; stop it first (its URLs are in run/services.env there), or set "
                 "DATABASE_URL and REDIS_URL")
            return 2
        except StartError as exc:
            _say(str(exc))
            return 1
        finally:
            signals.hold()  # a Ctrl-C during teardown must not cut it short


def _start_services(mode: str, teardown: ExitStack) -> tuple[dict[str, str], list]:
    """Start what DATABASE_URL/REDIS_URL do not name; return the command's environment."""
    env = dict(os.environ)
    layout = Layout.for_mode(mode, env)
    wanted = {}
    if not env.get("DATABASE_URL"):
        wanted["DATABASE_URL"] = EmbeddedPostgres(layout.postgres, throwaway=mode == "test")
    if not env.get("REDIS_URL"):
        wanted["REDIS_URL"] = EmbeddedRedis(layout.redis, throwaway=mode == "test")
    if wanted:
        lock = InstanceLock(layout.lock)
        lock.acquire()
        teardown.callback(lock.release)
    for key, server in wanted.items():
        started = time.monotonic()
        teardown.callback(_stopping, server)
        server.start()
        env[key] = server.url
        _say(f"{type(server).__name__} at {server.url} ({server.base}) "
             f"ready in {time.monotonic() - started:.1f}s")
    if wanted:
        write_env_file(layout.services_env, {key: env[key] for key in wanted})
        teardown.callback(layout.services_env.unlink, missing_ok=True)
    # Procfile commands name gunicorn and celery: find them next to our interpreter even
    # when the virtualenv is not activated.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env, list(wanted.values())


def _stopping(server) -> None:
    started = time.monotonic()
    server.stop()
    if server.proc is not None:
        _say(f"{type(server).__name__} stopped in {time.monotonic() - started:.1f}s")


def _migrate(env: dict[str, str]) -> None:
    if not (REPO / "migrations" / "env.py").exists():
        _say("no migrations/env.py yet: skipping `flask db upgrade`")
        return
    argv = [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"]
    status = run_to_end(argv, cwd=REPO, env=env)
    if status != 0:
        raise StartError(f"`flask --app app db upgrade` failed (exit {status})")


def _supervise(argv: list[str], env: dict[str, str], signals: Signals, parent: int,
               keep: set[int]) -> int:
    """Run the command in its own process group until it exits; forward stop signals to it."""
    become_subreaper()
    signals.hold()
    try:
        child = spawn(argv, death_signal=signal.SIGTERM, env=env, process_group=0)
    except OSError as exc:
        raise StartError(f"cannot run {argv[0]}: {exc}") from exc
    signals.attach(child)
    try:
        return exit_code(_wait(child, signals, parent))
    finally:
        signals.detach()
        _clean_up_after(child, keep)


def _clean_up_after(child: subprocess.Popen, keep: set[int]) -> None:
    """Stop what the command left: strays in its group, and orphans (we are their subreaper)."""
    signal_group(child.pid, signal.SIGTERM)
    swept = sweep_children(keep)
    signal_group(child.pid, signal.SIGKILL)
    if swept:
        _say(f"stopped {swept} process(es) the command left behind")


def _wait(child: subprocess.Popen, signals: Signals, parent: int) -> int:
    while True:
        try:
            return child.wait(POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent and not signals.received:
            _say("our parent process died: stopping")  # e.g. `make` killed with SIGKILL
            signals.received.append(signal.SIGTERM)
            signals.forward(signal.SIGTERM)
        if signals.first_at and time.monotonic() - signals.first_at > CHILD_STOP_SECONDS:
            _say(f"the command did not stop in {CHILD_STOP_SECONDS:.0f}s: killing it")
            signal_group(child.pid, signal.SIGKILL)
            signals.first_at = None


def _say(message: str) -> None:
    print(f"devservices: {message}", file=sys.stderr, flush=True)
