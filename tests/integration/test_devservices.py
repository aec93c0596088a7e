"""`python -m devservices` starts real PostgreSQL and Redis servers and leaves nothing behind."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]

#: Run inside devservices: reports its environment and proves both servers answer.
PROBE = """
import json, os, pathlib, psycopg, redis
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    database = conn.execute("SELECT current_database()").fetchone()[0]
client = redis.Redis.from_url(os.environ["REDIS_URL"])
client.set("probe", "ok")
env_file = pathlib.Path(os.environ["GPUBRIDGE_VAR_DIR"], "test", "run", "services.env")
print(json.dumps({"database": database, "redis": client.get("probe").decode(),
                  "env_file": env_file.read_text(), "DATABASE_URL": os.environ["DATABASE_URL"],
                  "REDIS_URL": os.environ["REDIS_URL"]}))
"""


@pytest.fixture(scope="module")
def var_dir():
    # Module scope: initdb runs once, the later tests reuse the data directory. Not under
    # pytest's tmp_path: as root the server runs as another user, and every pytest session
    # resets its base directory to 0700, cutting off a server that is still starting.
    base = Path(tempfile.mkdtemp(prefix="gpubridge-devservices-"))
    yield base / "var"
    shutil.rmtree(base, ignore_errors=True)


def scrubbed_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GPUBRIDGE_VAR_DIR=str(var_dir), **extra)
    return env


def devservices(*command: str, env: dict[str, str], **popen_args):
    argv = [sys.executable, "-m", "devservices", "test", "--", *command]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen_args)


def servers_left(var_dir: Path, ports: list[int]) -> list[str]:
    """Processes still running from this var dir, and ports still answering."""
    left = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(var_dir) in " ".join(proc.info["cmdline"] or []):
            left.append(f"pid {proc.pid}: {proc.info['cmdline']}")
    for port in ports:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                left.append(f"port {port} answers")
    return left


def test_starts_both_servers_when_urls_are_unset(var_dir):
    run = devservices(sys.executable, "-c", PROBE, env=scrubbed_env(var_dir))
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    seen = json.loads(out)
    assert (seen["database"], seen["redis"]) == ("gpubridge", "ok")
    assert seen["env_file"] == (f"DATABASE_URL={seen['DATABASE_URL']}\n"
                                f"REDIS_URL={seen['REDIS_URL']}\n")
    ports = [urlsplit(seen[key]).port for key in ("DATABASE_URL", "REDIS_URL")]
    assert 5432 not in ports and 6379 not in ports
    assert not (var_dir / "test" / "run" / "services.env").exists()
    assert servers_left(var_dir, ports) == []


def test_passes_on_the_exit_status_of_the_command(var_dir):
    run = devservices(sys.executable, "-c", "raise SystemExit(3)", env=scrubbed_env(var_dir))
    run.communicate(timeout=60)
    assert run.returncode == 3


def test_sigterm_stops_the_command_and_the_servers(var_dir):
    env_file = var_dir / "test" / "run" / "services.env"
    run = devservices("sleep", "60", env=scrubbed_env(var_dir))
    deadline = time.monotonic() + 30
    while not env_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env_file.exists(), "devservices did not start"
    ports = [urlsplit(line.split("=", 1)[1]).port for line in env_file.read_text().split()]
    started = time.monotonic()
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=30)
    assert run.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - started < 10
    assert servers_left(var_dir, ports) == []


def test_starts_nothing_when_urls_are_set(var_dir, tmp_path):
    env = scrubbed_env(tmp_path / "unused", DATABASE_URL="postgresql://db.invalid/x",
                       REDIS_URL="redis://redis.invalid/0")
    show = "import os; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'])"
    run = devservices(sys.executable, "-c", show, env=env)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert out.split() == ["postgresql://db.invalid/x", "redis://redis.invalid/0"]
    assert not (tmp_path / "unused").exists()
