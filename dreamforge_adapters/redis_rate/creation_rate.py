"""One counter per caller and minute (`INCR`, expiring with its window): one round trip per
creation, atomic across API replicas. A creation over the limit is taken back (`DECR`), so
refused attempts do not push the caller's next window."""

from __future__ import annotations

from typing import Any

from dreamforge_core.errors import Unavailable

WINDOW_S = 60


class RedisCreationRate:
    def __init__(self, client: Any, namespace: str) -> None:
        """`client`: a `redis.Redis`; `namespace`: the deployment's Redis key prefix."""
        self._client = client
        self._prefix = f"{namespace}:creations"

    def take(self, caller: str, per_minute: int, now_s: float) -> float | None:
        window = int(now_s // WINDOW_S)
        key = f"{self._prefix}:{caller or 'server'}:{window}"
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, WINDOW_S * 2)  # the key outlives its window, then goes
            count = int(pipe.execute()[0])
            if count <= per_minute:
                return None
            self._client.decr(key)
        except Exception as e:  # redis errors: the limit cannot be checked
            raise Unavailable(f"rate limit store unavailable: {e}") from e
        return (window + 1) * WINDOW_S - now_s
