"""The Celery queues, and what /health reports about them."""
from __future__ import annotations

from kombu import Exchange, Queue

FAMILIES = ("text", "image", "audio", "video")
QUEUES = FAMILIES + ("billing", "webhooks")
# Kombu's Redis transport keeps one list per priority step; the default step has no suffix.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def celery_queues() -> tuple[Queue, ...]:
    return tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES)


def queue_depths(redis) -> dict[str, int]:
    """Messages waiting in each queue (Redis broker)."""
    pipe = redis.pipeline()
    for name in QUEUES:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(name + suffix)
    counts = pipe.execute()
    step = len(_PRIORITY_SUFFIXES)
    return {name: sum(counts[i * step:(i + 1) * step]) for i, name in enumerate(QUEUES)}


def queue_workers(celery, timeout: float = 1.0) -> dict[str, list[str]]:
    """Worker names consuming each queue, from a broadcast that waits `timeout` seconds."""
    try:
        replies = celery.control.inspect(timeout=timeout).active_queues() or {}
    except Exception:  # broker down: no worker can be seen
        return {}
    consumers: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues:
            consumers.setdefault(queue["name"], []).append(worker)
    return consumers
