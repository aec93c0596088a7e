"""The hot paths' round trips (app/redis_direct.py) on a real Redis."""
import os

import pytest
import redis as redis_lib
from redis.exceptions import ResponseError

from app.redis_direct import DirectRedis, pack
from tests.helpers import free_port

KEY = "gpub:test:direct"


@pytest.fixture
def client(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.delete(KEY)
    yield client
    client.delete(KEY)


def test_replies_come_in_order_and_an_error_reply_does_not_stop_the_rest(client):
    direct = DirectRedis(client)
    replies = direct.execute([("SET", KEY, "a"), ("LPUSH", KEY, "x"), ("GET", KEY)])
    assert replies[0] is True or replies[0] == b"OK"
    assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
    assert replies[2] == b"a"
    assert direct.execute([("GET", KEY)]) == [b"a"]  # the connection is still in step


def test_a_connection_redis_closed_is_opened_again_and_the_commands_sent_once_more(client):
    direct = DirectRedis(client)
    (first,) = direct.execute([("CLIENT", "ID")])
    client.client_kill_filter(_id=first)
    assert direct.execute([("INCR", KEY)]) == [1]
    (second,) = direct.execute([("CLIENT", "ID")])
    assert second != first


def test_each_thread_keeps_its_own_connection(client):
    from concurrent.futures import ThreadPoolExecutor

    direct = DirectRedis(client)
    (here,) = direct.execute([("CLIENT", "ID")])
    with ThreadPoolExecutor(1) as other:
        there = other.submit(lambda: direct.execute([("CLIENT", "ID")])[0]).result()
    assert there != here and direct.execute([("CLIENT", "ID")]) == [here]


def test_a_forked_child_makes_its_own_connection_and_leaves_the_parents_alone(client):
    direct = DirectRedis(client)
    (parent_id,) = direct.execute([("CLIENT", "ID")])
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its connection's id, then leave at once
        try:
            os.write(write, str(direct.execute([("CLIENT", "ID")])[0]).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_id = int(os.read(read, 64))
    os.close(read)
    os.waitpid(child, 0)
    assert child_id != parent_id
    assert direct.execute([("CLIENT", "ID")]) == [parent_id]  # not shut down by the child


def test_an_unreachable_redis_raises_a_redis_error():
    direct = DirectRedis(redis_lib.Redis(port=free_port(), socket_connect_timeout=1))
    with pytest.raises(redis_lib.RedisError):
        direct.execute([("PING",)])


def test_commands_are_packed_as_redis_py_packs_them():
    from redis.connection import Connection

    command = ("EVAL", "return 1", 2, "gpub:é", b"\x00raw", 0.1 + 0.2, -7)
    assert pack([command, ("PING",)]) == b"".join(Connection().pack_commands([command, ("PING",)]))
    with pytest.raises(TypeError):
        pack([("SET", KEY, True)])
