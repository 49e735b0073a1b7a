"""Where workers advertise their warm models, the same in one process and on Redis: each
worker sees the others' models, not its own, and an entry lapses with its time to live or
goes when its worker withdraws."""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis

from dreamforge_adapters.dramatiq_queue import RedisWarmRoster
from dreamforge_adapters.memory import MemoryWarmRoster
from dreamforge_core.ports.warm_models import WarmRoster
from tests.support.services import answering_redis


@pytest.fixture(params=["memory", "redis"])
def roster(request: pytest.FixtureRequest) -> Iterator[WarmRoster]:
    if request.param == "memory":
        yield MemoryWarmRoster()
        return
    client = redis.Redis.from_url(answering_redis())
    namespace = f"dftest-{uuid4().hex[:12]}"
    yield RedisWarmRoster(client, namespace)
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_each_worker_sees_the_models_warm_on_the_others(roster: WarmRoster) -> None:
    assert roster.warm_elsewhere("w1") == frozenset()
    roster.advertise("w1", ["a", "b"], ttl_s=30)
    roster.advertise("w2", ["c"], ttl_s=30)

    assert roster.warm_elsewhere("w1") == {"c"}
    assert roster.warm_elsewhere("w2") == {"a", "b"}
    assert roster.warm_elsewhere("w3") == {"a", "b", "c"}

    roster.advertise("w1", ["b"], ttl_s=30)  # a new advertisement replaces the last
    assert roster.warm_elsewhere("w2") == {"b"}


def test_an_entry_lapses_with_its_ttl_and_goes_on_withdrawal(roster: WarmRoster) -> None:
    roster.advertise("dies", ["a"], ttl_s=0.1)
    roster.advertise("stops", ["b"], ttl_s=30)
    roster.withdraw("stops")
    time.sleep(0.2)

    assert roster.warm_elsewhere("other") == frozenset()
