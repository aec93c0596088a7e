"""The baseline of B1/B2: a bare Flask route that only sends one Celery task."""
import os

from celery import Celery
from flask import Flask

app = Flask(__name__)
celery = Celery("bare", broker=os.environ["REDIS_URL"])


@app.post("/run")
def run():
    celery.send_task("bench.noop", queue="bench-bare")
    return {"ok": True}, 202
