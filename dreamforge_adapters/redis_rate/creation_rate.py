"""One counter per caller and minute, counted by a Lua script in one round trip: atomic across
API replicas. A creation over the limit is not counted, so the counter never passes the limit
and refused attempts cost nothing later."""

from __future__ import annotations

from typing import Any

from dreamforge_core.errors import Unavailable

WINDOW_S = 60

# KEYS[1]: the caller's counter of this window; ARGV[1]: the limit; ARGV[2]: its lifetime.
# Returns the count with this creation, or -1 when the creation would pass the limit.
_TAKE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return -1 end
count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return count
"""


class RedisCreationRate:
    def __init__(self, client: Any, namespace: str) -> None:
        """`client`: a `redis.Redis`; `namespace`: the deployment's Redis key prefix."""
        self._prefix = f"{namespace}:creations"
        self._take = client.register_script(_TAKE)

    def take(self, caller: str, per_minute: int, now_s: float) -> float | None:
        window = int(now_s // WINDOW_S)
        key = f"{self._prefix}:{caller or 'server'}:{window}"
        try:
            # The counter outlives its window by one: the key name changes with the window.
            count = int(self._take(keys=[key], args=[per_minute, 2 * WINDOW_S]))
        except Exception as e:  # redis errors: the limit cannot be checked
            raise Unavailable(f"rate limit store unavailable: {e}") from e
        if count >= 0:
            return None
        return (window + 1) * WINDOW_S - now_s
