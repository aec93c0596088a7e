"""Where an instance keeps its data, and the lock that makes it the only one using it."""
from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Overrides the var/ directory (app/config.py reads the same name to find services.env).
VAR_DIR_SETTING = "GPUBRIDGE_VAR_DIR"


class AlreadyRunning(RuntimeError):
    """Raised when another devservices instance holds the lock on the same directory."""


def var_dir(env) -> Path:
    """The var/ directory: GPUBRIDGE_VAR_DIR, else var/ at the repository root."""
    return Path(env.get(VAR_DIR_SETTING) or REPO / "var").resolve()


@dataclass(frozen=True)
class Layout:
    """The directories of one instance: `run` mode uses var/, `test` mode var/test/."""

    root: Path

    @classmethod
    def for_mode(cls, mode: str, env) -> "Layout":
        base = var_dir(env)
        return cls(base if mode == "run" else base / "test")

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def services_env(self) -> Path:
        return self.root / "run" / "services.env"

    @property
    def lock(self) -> Path:
        return self.root / "run" / "devservices.lock"


class InstanceLock:
    """An flock held for the life of an instance.

    The kernel drops it when the process dies, however it dies, so a crash never leaves a
    stale lock behind (unlike a pid file, or services.env itself).
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(f"pid {holder}") from exc
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def is_held_elsewhere(self) -> bool:
        """True if some running instance holds the lock (used by `clean`)."""
        if not self.path.exists():
            return False
        try:
            self.acquire()
        except AlreadyRunning:
            return True
        self.release()
        return False


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Write KEY=VALUE lines atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    os.replace(tmp, path)
