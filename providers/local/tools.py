"""Running the command-line tools the local tasks use, with errors the router understands."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess

from providers.base import BackendUnavailable, RetryableProviderError


def missing_binary(name: str) -> str | None:
    """None when `name` is on PATH, else the reason a task cannot run."""
    return None if shutil.which(name) else f"{name} is not installed"


# Modules found once are not looked for again: the web process asks on every submit, and
# searching sys.path for a module it never imports costs more than the rest of pricing.
_importable: set[str] = set()


def missing_module(module: str, package: str | None = None) -> str | None:
    """None when `module` can be imported, else the reason a task cannot run."""
    if module in _importable:
        return None
    if importlib.util.find_spec(module) is None:
        return f"{package or module} is not installed"
    _importable.add(module)
    return None


def run_tool(args: list[str], stdin: bytes | None, timeout: float,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `args` (no shell) feeding `stdin`; the caller judges a non-zero exit."""
    try:
        return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, env=env,
                              check=False)
    except FileNotFoundError as exc:
        raise BackendUnavailable(f"{args[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise RetryableProviderError(f"{args[0]} took longer than {timeout:g} s") from exc


def stderr_tail(proc: subprocess.CompletedProcess, limit: int = 300) -> str:
    """The end of a tool's error output, short enough for a client message."""
    text = proc.stderr.decode("utf-8", "replace").strip()
    return text[-limit:] or f"exit status {proc.returncode}"
