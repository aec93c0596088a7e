"""gunicorn settings for the multi-process race tests: each worker, once its app is loaded,
leaves a file named by its pid in RACES_READY_DIR, so the test waits for every worker."""
import os
from pathlib import Path


def post_worker_init(worker) -> None:
    """Called by gunicorn in the worker after it loaded the app."""
    Path(os.environ["RACES_READY_DIR"], str(worker.pid)).touch()
