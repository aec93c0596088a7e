"""B9 (ours): a worker's instructions for one job, counted by valgrind, against the floor
task's.

B3's rates move with the machine by more than most changes to the worker's Python; an
instruction count does not. So a B3 job runs here in one process as a pool process runs it
(`workers.run_job`'s body in the app's context, batched event rows, no Celery around it: the
no-op task's share is the same for both), with the emulator and the receiver in a process of
their own, under callgrind, which counts only the loop over N jobs (callgrind's client
requests, sent through a small helper built with the machine's C compiler). The floor task
(bench/floor_app.py) is counted the same way. Only the worker's own instructions count:
PostgreSQL's are B8's, and Redis's and the peers' are not counted.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from callgrind import count_each, counted

N = int(os.environ.get("B9_JOBS", "100"))
WARM_UP = 20  # first calls: prepared statements, kept connections, imports done lazily
LLM = {"service": "llm-4090", "input": {"prompt": "hi", "max_tokens": 8}}
PEERS = """import json, sys, time
sys.path[:0] = sys.argv[1:]
from providers.emulator import Emulator
from receiver import Receiver
receiver = Receiver()
with Emulator() as emulator:
    print(json.dumps({"env": emulator.env(), "hook": receiver.url}), flush=True)
    time.sleep(3600)
"""


def main() -> None:
    counts = count_each(__file__, ("pipeline", "floor"), "B9")
    if counts is None:
        return
    for name, total in counts.items():
        print(f"{name}: {total // N:,} instructions a job")
    print(f"B9: a pipeline job / a floor job = {counts['pipeline'] / counts['floor']:.2f} "
          f"(instructions in the worker; {N} jobs each; the same in every run to about 1%)")


def run_under_valgrind(workload: str, helper: str) -> None:
    """In the child: set up, warm up, then count N jobs of `workload` (collecting only then)."""
    from common import fresh_database

    here = str(Path(__file__).resolve().parent)
    peers = subprocess.Popen([sys.executable, "-c", PEERS, str(Path(here).parent), here],
                             stdout=subprocess.PIPE, text=True)
    url, drop = None, None
    try:
        found = json.loads(peers.stdout.readline())
        os.environ.update({**found["env"], "GPUBRIDGE_ALLOW_PRIVATE_URLS": "true"})
        url, drop = fresh_database()
        jobs = (pipeline_jobs if workload == "pipeline" else floor_jobs)(url, found["hook"])
        counted(helper, jobs[:WARM_UP], jobs[WARM_UP:])
    finally:
        peers.kill()
        if drop is not None:
            drop()


def pipeline_jobs(url: str, hook: str) -> list:
    """N + WARM_UP queued jobs, each a call of run_job's body, as a pool process makes it."""
    from b1_b2_submit import account_key
    from common import make_app
    headers = {"Authorization": f"Bearer {account_key(url)}"}
    app = make_app(url, WEBHOOK_LOG_BATCH=10, WEBHOOK_LOG_WAIT_SECONDS=3600.0)
    client = app.test_client()
    ids = [client.post("/run", json={**LLM, "webhook_url": hook}, headers=headers)
           .get_json()["job_id"] for _ in range(N + WARM_UP)]
    import workers.tasks  # noqa: F401 (registers the tasks)
    app.app_context().push()  # as FlaskTask.__call__ does for each task
    run_job = app.extensions["celery"].tasks["workers.run_job"].run
    return [lambda job_id=job_id: _completed(run_job(job_id)) for job_id in ids]


def _completed(status: str | None) -> None:
    if status != "completed":  # a count of failing jobs would say nothing
        raise RuntimeError(f"a B9 job ended {status}")


def floor_jobs(url: str, hook: str) -> list:
    from common import floor_env
    os.environ.update(floor_env(url))
    import floor_app
    ids = [floor_app.insert_job(LLM["input"]) for _ in range(N + WARM_UP)]
    return [lambda job_id=job_id: floor_app.floor_job(job_id, hook) for job_id in ids]


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run_under_valgrind(*sys.argv[1:])
    else:
        main()
