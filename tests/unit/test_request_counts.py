"""Request counts are batched per process and reach Redis at most once per interval."""
from app.metrics import REQUESTS_KEY, RequestCounts


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class RecordingRedis:
    """Records pipelined HINCRBYs; `down` makes execute() fail like a lost connection."""

    def __init__(self):
        self.hash, self.down, self.round_trips = {}, False, 0

    def pipeline(self, transaction=False):
        return RecordingPipeline(self)


class RecordingPipeline:
    def __init__(self, redis):
        self.redis, self.calls = redis, []

    def hincrby(self, key, field, amount):
        self.calls.append((key, field, amount))

    def execute(self):
        if self.redis.down:
            raise ConnectionError("redis is down")
        self.redis.round_trips += 1
        for key, field, amount in self.calls:
            assert key == REQUESTS_KEY
            self.redis.hash[field] = self.redis.hash.get(field, 0) + amount


def test_counts_wait_for_the_interval_then_go_in_one_round_trip():
    redis, clock = RecordingRedis(), FakeClock()
    counts = RequestCounts(redis, every=1.0, clock=clock)
    for _ in range(5):
        counts.add("POST /run 202")
    counts.add("GET /status/<job_id> 200")
    assert redis.round_trips == 0
    clock.now += 1.0
    counts.add("POST /run 202")
    assert redis.round_trips == 1
    assert redis.hash == {"POST /run 202": 6, "GET /status/<job_id> 200": 1}


def test_a_scrape_flush_sends_what_is_pending_at_once():
    redis, clock = RecordingRedis(), FakeClock()
    counts = RequestCounts(redis, every=60.0, clock=clock)
    counts.add("POST /run 202")
    counts.flush()
    assert redis.hash == {"POST /run 202": 1}
    counts.flush()  # nothing pending: no round trip
    assert redis.round_trips == 1


def test_counts_survive_a_redis_outage():
    redis, clock = RecordingRedis(), FakeClock()
    counts = RequestCounts(redis, every=1.0, clock=clock)
    counts.add("POST /run 202")
    redis.down = True
    counts.flush()
    assert redis.hash == {}
    redis.down = False
    counts.add("POST /run 202")
    counts.flush()
    assert redis.hash == {"POST /run 202": 2}
