"""On a Redis broker POST /run writes its job message itself (workers/publish.py): the
document must be the one Celery's send_task writes, or workers would refuse or misread it."""
import base64
import json
import uuid

import redis

from workers.broker import transport_for
from workers.publish import RUN_JOB, JobPublisher

# Fresh for every message (task id, delivery tag) or naming the sending process.
VARYING_HEADERS = ("id", "root_id", "origin")
VARYING_PROPERTIES = ("correlation_id", "delivery_tag", "reply_to")


def _comparable(raw: bytes) -> dict:
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for key in VARYING_HEADERS:
        message["headers"].pop(key)
    for key in VARYING_PROPERTIES:
        message["properties"].pop(key)
    return message


def test_a_published_job_is_the_message_send_task_writes(app):
    broker = app.config["CELERY_BROKER_URL"]
    queue, job_id = f"publish-test-{uuid.uuid4().hex}", str(uuid.uuid4())
    client = redis.Redis.from_url(broker)
    try:
        app.extensions["celery"].send_task(RUN_JOB, args=[job_id], queue=queue)
        theirs = client.rpop(queue)
        JobPublisher(app.extensions["celery"], broker).send(job_id, queue)
        ours = client.rpop(queue)
    finally:
        client.delete(queue, f"_kombu.binding.{queue}")
    assert _comparable(ours) == _comparable(theirs)
    headers, properties = json.loads(ours)["headers"], json.loads(ours)["properties"]
    assert headers["id"] == headers["root_id"] == properties["correlation_id"]
    assert uuid.UUID(properties["delivery_tag"]) != uuid.UUID(headers["id"])
    for fresh in (headers["id"], properties["delivery_tag"]):  # as str(uuid.uuid4()) writes
        parsed = uuid.UUID(fresh)
        assert str(parsed) == fresh and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_other_brokers_and_prefixed_keys_go_through_send_task(app):
    assert transport_for("redis://127.0.0.1:6379/0")
    assert transport_for("rediss://h:6380/1") is None  # kombu sets up its TLS itself
    assert transport_for("amqp://guest:guest@127.0.0.1:5672//") is None
    celery = app.extensions["celery"]
    assert JobPublisher(celery, "amqp://guest:guest@127.0.0.1:5672//").redis is None
    assert JobPublisher(celery, app.config["CELERY_BROKER_URL"]).redis is not None
    options = celery.conf.broker_transport_options
    try:
        celery.conf.broker_transport_options = {**options, "global_keyprefix": "gb:"}
        assert JobPublisher(celery, app.config["CELERY_BROKER_URL"]).redis is None
    finally:
        celery.conf.broker_transport_options = options
