"""The per-minute creation counter, the same on both deployments: the in-process one of
`dreamforge serve` and the Redis one every API replica of the stack shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
import redis

from dreamforge_adapters.inprocess.creation_rate import InProcessCreationRate
from dreamforge_adapters.redis_rate import RedisCreationRate
from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.creation_rate import CreationRate
from tests.support.services import answering_redis

T = 1_767_225_600.0  # a minute's first second
Counters = Callable[[], CreationRate]  # each call: another API process on the same store


@pytest.fixture(params=["inprocess", "redis"])
def counters(request: pytest.FixtureRequest) -> Iterator[Counters]:
    if request.param == "inprocess":
        shared = InProcessCreationRate()  # one process: one counter
        yield lambda: shared
        return
    client = redis.Redis.from_url(answering_redis())
    namespace = f"dftest-{uuid4().hex[:12]}"
    yield lambda: RedisCreationRate(client, namespace)
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_caller_gets_its_limit_per_minute_and_a_wait_until_the_next(counters: Counters) -> None:
    rate = counters()
    assert [rate.take("alice", 3, T + i) for i in range(3)] == [None, None, None]
    assert rate.take("alice", 3, T + 20) == pytest.approx(40)
    assert rate.take("alice", 3, T + 59) == pytest.approx(1)
    assert rate.take("alice", 3, T + 60) is None  # a new minute


def test_callers_are_counted_apart(counters: Counters) -> None:
    rate = counters()
    assert rate.take("alice", 1, T) is None
    assert rate.take("bob", 1, T) is None
    assert rate.take("", 1, T) is None  # the keyless server is a caller too
    assert rate.take("alice", 1, T) is not None


def test_a_refused_minute_does_not_carry_over(counters: Counters) -> None:
    rate = counters()
    assert rate.take("alice", 2, T) is None
    assert rate.take("alice", 2, T) is None
    for _ in range(5):
        assert rate.take("alice", 2, T + 1) is not None
    # The next minute holds the whole limit again, whatever was refused before it.
    assert rate.take("alice", 2, T + 60) is None
    assert rate.take("alice", 2, T + 61) is None
    assert rate.take("alice", 2, T + 62) is not None


def test_every_api_process_counts_on_one_store(counters: Counters) -> None:
    one, two = counters(), counters()
    assert one.take("alice", 2, T) is None
    assert two.take("alice", 2, T) is None
    assert one.take("alice", 2, T) is not None
    assert two.take("alice", 2, T) is not None


def test_an_unreachable_redis_is_unavailable() -> None:
    client = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    with pytest.raises(Unavailable, match="rate limit store unavailable"):
        RedisCreationRate(client, "x").take("alice", 1, T)
