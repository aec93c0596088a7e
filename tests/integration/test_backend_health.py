"""Circuit breakers and latency averages on a real Redis (the state every worker shares)."""
import pytest

from providers.health import BackendHealth, BreakerPolicy
from tests.integration.conftest import wait_for


@pytest.fixture
def health(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("gpub:*"):
        client.delete(key)
    yield lambda **policy: BackendHealth(client, BreakerPolicy(**policy))
    for key in client.scan_iter("gpub:*"):
        client.delete(key)


def test_breaker_opens_at_the_threshold_and_closes_after_a_good_probe(health):
    worker_a, worker_b = health(threshold=2, cooldown=0.3), health(threshold=2, cooldown=0.3)
    worker_a.failed("groq")
    assert worker_b.allow("groq") and worker_b.state("groq")["state"] == "closed"
    worker_a.failed("groq")
    assert not worker_b.allow("groq") and worker_b.state("groq")["state"] == "open"
    wait_for(lambda: worker_b.state("groq")["state"] == "half_open", timeout=5, interval=0.05)
    assert [worker_a.allow("groq"), worker_b.allow("groq")] == [True, False]  # one probe
    worker_a.succeeded("groq", 0.4)
    assert worker_b.allow("groq") and worker_b.state("groq") == \
        {"state": "closed", "consecutive_failures": 0, "latency_ms": 400.0}


def test_a_failed_probe_opens_the_breaker_again(health):
    breaker = health(threshold=1, cooldown=0.2)
    breaker.failed("jina")
    wait_for(lambda: breaker.state("jina")["state"] == "half_open", timeout=5, interval=0.05)
    assert breaker.allow("jina")
    breaker.failed("jina")
    assert breaker.state("jina")["state"] == "open" and not breaker.allow("jina")


def test_one_read_of_the_chain_lets_allow_decide_without_redis(health):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    breakers = health(threshold=2, cooldown=60)
    breakers.failed("groq")
    breakers.failed("groq")  # open
    breakers.failed("jina")  # one failure: still closed
    read = breakers.states(["groq", "jina", "fireworks"])
    assert read["groq"][0] and not read["jina"][0] and int(read["jina"][1]) == 1
    assert read["fireworks"] == (0, None)
    # A health whose Redis is down allows everything it must look up, so these answers come
    # from the read alone.
    down = BackendHealth(redis.Redis(port=1, socket_connect_timeout=0.2,
                                     retry=Retry(NoBackoff(), 0)), BreakerPolicy(threshold=2))
    assert not down.allow("groq", read["groq"]) and down.allow("jina", read["jina"])
    assert down.states(["groq"]) == {}


def test_latency_is_a_moving_average(health):
    tracker = health()
    tracker.succeeded("groq", 1.0)
    tracker.succeeded("groq", 0.0)
    assert tracker.latencies() == {"groq": pytest.approx(0.7)}


def test_an_unreachable_redis_allows_every_backend():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    down = BackendHealth(redis.Redis(port=1, socket_connect_timeout=0.2,
                                     retry=Retry(NoBackoff(), 0)))
    assert down.allow("groq") and down.latencies() == {}
    down.failed("groq")  # logged, not raised


def test_the_read_of_a_chain_carries_the_callers_own_commands(health):
    breakers = health()
    client = breakers.redis
    assert breakers.states(["groq"], also=(("SET", "gpub:test:a", 1),)) == \
        {"groq": (False, None)}
    assert breakers.states([], also=(("SET", "gpub:test:b", 1),)) == {}
    assert client.exists("gpub:test:a", "gpub:test:b") == 2
