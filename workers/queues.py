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


def amqp_depths(celery) -> dict[str, int | None]:
    """Messages waiting in each queue on an AMQP broker (RabbitMQ), by a passive declare;
    None for a queue the broker does not have yet."""
    depths: dict[str, int | None] = {}
    with celery.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1)
        for name in QUEUES:
            channel = connection.channel()
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # 404 NOT_FOUND closes the channel: the queue is not declared
                depths[name] = None
            finally:
                try:
                    channel.close()
                except Exception:
                    pass
    return depths


def broker_depths(celery, redis) -> tuple[dict[str, int | None], str | None]:
    """Depth per queue on whichever broker Celery uses, and why it is unknown when it is."""
    url = str(celery.conf.broker_url or "")
    try:
        if url.startswith(("amqp://", "amqps://", "pyamqp://")):
            return amqp_depths(celery), None
        return queue_depths(redis), None
    except Exception as exc:  # broker down: report, never raise
        return {}, f"broker unreachable: {type(exc).__name__}"


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
