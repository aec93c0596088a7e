"""B8 (ours): PostgreSQL's instructions for POST /run's statement and for a job's end, counted
by valgrind, against the floor's one-row insert.

Time on this machine kind moves by a fifth between runs of one hour, more than most changes
to a SQL function; an instruction count is the same from run to run. So the statements the
code sends are run in a single-user backend (one process, no client) under callgrind, as
prepared statements, as psycopg runs them after their fifth use: each workload N and 3N
times on copies of one cluster, and (count at 3N - count at N) / 2N is one item's cost,
start-up and shut-down cancelled. The database holds one account with credit and 3N queued
jobs, beside 1,000 other accounts with their ledger rows, days and ended jobs, analyzed, as
autovacuum keeps a live one. A count says nothing of waits on locks or of the network: B1,
B3 and B5 measure those.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from b1_b2_submit import account_key
from common import floor_env, make_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import webhooks  # noqa: E402
from app.auth import hash_key  # noqa: E402
from app.jobs import SUBMIT_JOB  # noqa: E402
from devservices.postgres_server import DATABASE, EmbeddedPostgres  # noqa: E402
from workers.execute import _CLAIM  # noqa: E402
from workers.final import _FINISH_JOB  # noqa: E402

N = int(os.environ.get("B8_ITEMS", "100"))
HOLD, CAPTURED = 20, 3
FLOOR, SUBMIT, JOB_END = ("the floor's insert", "POST /run's submit_job",
                         "a job's end (claim, finish_job with the ended job, its share of a "
                         "batch of event rows)")
# Other customers' accounts, ledger rows, days and ended jobs with their attempts, so that
# the planner sees the tables of a live service and reaches rows by their indexes, as it
# would not in tables of one account and no history.
OTHER_ACCOUNTS = """
WITH others AS (INSERT INTO accounts (email)
                SELECT 'other' || n || '@example.com' FROM generate_series(1, 1000) AS n
                RETURNING id),
     rows AS (INSERT INTO ledger_accounts (owner_id, kind, balance, allow_negative)
              SELECT id, kind, 0, false
              FROM others, unnest(ARRAY['available', 'held', 'spent']) AS kind),
     days AS (INSERT INTO daily_spend (account_id, day, spent)
              SELECT id, current_date - 1, 0 FROM others),
     ended AS (INSERT INTO jobs (id, account_id, service, family, status, input,
                                 estimated_cost, hold_amount)
               SELECT gen_random_uuid(), id, 'embedding-l4', 'text', 'completed', '{}', 0, 0
               FROM others, generate_series(1, 3) RETURNING id)
INSERT INTO job_attempts (job_id, backend, outcome, seconds)
SELECT id, 'groq', 'success', 0.01 FROM ended"""
FLOOR_INSERT = "INSERT INTO bench_floor_jobs (id, input) VALUES (%s, %s)"


def prepared(name: str, query: str) -> tuple[str, list[str]]:
    """PREPARE text for a psycopg query (%s or %(name)s placeholders), and the names of its
    parameters in their $n order (empty for %s)."""
    keys: list[str] = []

    def number(match: re.Match) -> str:
        key = match.group(1) or str(len(keys))  # each %s is a parameter of its own
        if key not in keys:
            keys.append(key)
        return f"${keys.index(key) + 1}"
    text = re.sub(r"%(?:\((\w+)\))?s", number, query)
    return f"PREPARE {name} AS {text}", [key for key in keys if not key.isdigit()]


def executes(cursor, name: str, names: list[str], row) -> str:
    """The EXECUTE line of one row of parameters (a tuple, or a dict for named ones)."""
    values = [row[n] for n in names] if names else list(row)
    return cursor.mogrify(f"EXECUTE {name}({', '.join(['%s'] * len(values))})", values)


def workloads(url: str, key: str, batch: int) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Each workload's PREPAREs and, for each of 3N items, its EXECUTE lines; with 3N jobs
    queued for the job ends."""
    floor_env(url)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        cursor = psycopg.ClientCursor(connection)
        submits, queued = ([(hash_key(key), uuid.uuid4(), "embedding-l4", "text", None,
                             Jsonb({"text": "benchmark"}), None, None, HOLD, HOLD, HOLD, HOLD,
                             None, None) for _ in range(3 * N)] for _ in range(2))
        for row in queued:
            connection.execute(SUBMIT_JOB, row)
        connection.execute(OTHER_ACCOUNTS)
        account = connection.execute("SELECT account_id FROM jobs WHERE id = %s",
                                     (queued[0][1],)).fetchone()[0]
        connection.execute("INSERT INTO webhook_secrets (account_id, secret) "
                           "VALUES (%s, 'whsec_b8')", (account,))
        connection.execute("VACUUM ANALYZE")
        floor, floor_names = prepared("floor", FLOOR_INSERT)
        submit, submit_names = prepared("submit", SUBMIT_JOB)
        return {
            FLOOR: ([floor], [[executes(cursor, "floor", floor_names, (
                uuid.uuid4(), Jsonb({"text": "benchmark"})))] for _ in range(3 * N)]),
            SUBMIT: ([submit], [[executes(cursor, "submit", submit_names, row)]
                                for row in submits]),
            JOB_END: job_ends(cursor, account, [row[1] for row in queued], batch),
        }


def job_ends(cursor, account: int, job_ids: list, batch: int
             ) -> tuple[list[str], list[list[str]]]:
    """The worker's statements for each job, as a B3 job sends them: claim, finish_job with
    its settlement and the read of the ended job and its signing secrets, and its share of
    the statement that writes `batch` delivered final events' rows with their attempts' logs
    (workers/execute.py, final.py, app/webhooks.py and app/webhook_log.py): every
    `batch`-th job sends that statement."""
    statements = {"claim": prepared("claim", _CLAIM), "finish": prepared("finish", _FINISH_JOB),
                  "event": prepared("event", webhooks.INSERT_TRIED)}
    attempts = ('[{"backend": "groq", "outcome": "success", "error": null, '
                '"error_class": null, "seconds": 0.01}]')
    items, events = [], []
    delivered = webhooks.Tried(204, 1, None, webhooks.Outcome("delivered"))
    for job_id in job_ids:
        events.append(webhooks.tried_row(webhooks.insert_params(
            account, job_id, webhooks.job_event_key(job_id, "job.completed"), "job.completed",
            "https://example.com/hook", '{"type":"job.completed","data":{}}'), delivered))
        params = {"claim": {"id": job_id, "lease": 300, "max": 5},
                  "finish": {"id": job_id, "delivery": 1, "status": "completed",
                             "output": '{"text": "hi"}', "error": None,
                             "usage": '{"input_tokens": 3, "output_tokens": 8}',
                             "attempts": attempts, "tokens": [], "types": [], "data": [],
                             "captured": CAPTURED, "refunded": HOLD - CAPTURED, "discount": 0}}
        if len(events) == batch:
            params["event"] = {"rows": json.dumps(events)}
            events = []
        items.append([executes(cursor, name, statements[name][1], params[name])
                      for name in statements if name in params])
    return [text for text, _ in statements.values()], items


def count(server: EmbeddedPostgres, pristine: Path, lines: list[str], scratch: Path,
          profile: str = "/dev/null") -> int:
    """Instructions of a single-user backend running `lines` on a fresh copy of the cluster;
    callgrind's profile goes to `profile`."""
    shutil.rmtree(server.pgdata)
    subprocess.run(["cp", "-a", str(pristine), str(server.pgdata)], check=True)
    statements = scratch / "statements.sql"
    statements.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n")
    statements.chmod(0o644)
    done = server.single_user(DATABASE, statements,
                              ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}"])
    output = (done.stdout + done.stderr).decode(errors="replace")  # a backend's errors: stderr
    errors = [line for line in output.splitlines() if "ERROR:" in line]
    if done.returncode != 0 or errors:
        raise RuntimeError(f"the statements failed: {errors[:3] or done.stderr[-500:]}")
    return int(re.search(rb"Collected : (\d+)", done.stderr).group(1))


def profile(workload: int, items: int) -> str:
    """Where callgrind writes a run's profile: B8_PROFILES=<directory> keeps them, for
    callgrind_annotate (workload 0 the floor, 1 the submit, 2 the job end)."""
    directory = os.environ.get("B8_PROFILES")
    if not directory:
        return "/dev/null"
    Path(directory).mkdir(parents=True, exist_ok=True)
    Path(directory).chmod(0o777)  # written by the server's account
    return f"{Path(directory).resolve()}/b8-{workload}-{items}.out"


def main() -> None:
    if shutil.which("valgrind") is None:
        print("B8 skipped: valgrind is not installed")
        return
    with tempfile.TemporaryDirectory(prefix="gpubridge-b8-") as scratch:
        scratch = Path(scratch)
        scratch.chmod(0o755)  # the server's account reads the statements here
        server = EmbeddedPostgres(scratch / "pg", throwaway=True)
        server.start()
        try:
            url = server.url.replace("postgresql://", "postgresql+psycopg://")
            app = make_app(url)
            with app.app_context():
                from flask_migrate import upgrade
                upgrade()
            lines = workloads(url, account_key(url), app.config["WEBHOOK_LOG_BATCH"])
        finally:
            server.stop()
        pristine = scratch / "pristine"
        subprocess.run(["cp", "-a", str(server.pgdata), str(pristine)], check=True)
        per_item = {}
        for number, (label, (prepares, items)) in enumerate(lines.items()):
            low, high = (count(server, pristine, prepares + sum(items[:n], []), scratch,
                               profile(number, n)) for n in (N, 3 * N))
            per_item[label] = (high - low) / (2 * N)
            print(f"{label}: {per_item[label]:,.0f} instructions an item")
        for label in (SUBMIT, JOB_END):
            print(f"B8: {label} / {FLOOR} = {per_item[label] / per_item[FLOOR]:.2f} "
                  f"(instructions; {N} and {3 * N} items; the same in every run)")


if __name__ == "__main__":
    main()
