"""The baseline worker of B3: a Celery app whose one task only counts itself in Redis."""
import os

import redis
from celery import Celery

celery = Celery("noop", broker=os.environ["REDIS_URL"])
celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True)
counter = redis.Redis.from_url(os.environ["REDIS_URL"])


@celery.task(name="bench.noop")
def noop() -> None:
    counter.incr("bench:noop:done")
