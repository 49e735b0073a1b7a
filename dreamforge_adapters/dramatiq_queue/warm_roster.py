"""The WarmRoster on the queue's Redis: one key per worker with a time to live.

`<namespace>:__dreamforge_warm__:<worker id>` holds the worker's warm model ids (JSON) and
expires on its own when the worker stops renewing it, so a dead worker drops out without
anyone's clock; the set `<namespace>:__dreamforge_warm__` names the workers, and a reader
removes the names whose key has expired. Reading is two round trips per turn.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis

from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.warm_models import WarmRoster


class RedisWarmRoster(WarmRoster):
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._client = client
        self._members = f"{namespace}:__dreamforge_warm__"

    def _key(self, worker_id: str) -> str:
        return f"{self._members}:{worker_id}"

    def advertise(self, worker_id: str, model_ids: Sequence[str], ttl_s: float) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(self._key(worker_id), json.dumps(list(model_ids)), px=int(ttl_s * 1000))
            pipe.sadd(self._members, worker_id)
            pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"could not advertise warm models: {e}") from e

    def warm_elsewhere(self, worker_id: str) -> frozenset[str]:
        try:
            others = sorted(_text(w) for w in self._client.smembers(self._members))
            others = [w for w in others if w != worker_id]
            if not others:
                return frozenset()
            values = self._client.mget([self._key(w) for w in others])
            gone = [w for w, v in zip(others, values, strict=True) if v is None]
            if gone:
                self._client.srem(self._members, *gone)
        except redis.RedisError as e:
            raise Unavailable(f"could not read warm models: {e}") from e
        found: set[str] = set()
        for value in values:
            if value is not None:
                found.update(str(m) for m in json.loads(value))
        return frozenset(found)

    def withdraw(self, worker_id: str) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.delete(self._key(worker_id))
            pipe.srem(self._members, worker_id)
            pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"could not withdraw warm models: {e}") from e


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
