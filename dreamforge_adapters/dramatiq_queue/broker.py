"""Builds the Redis broker with only the middleware Dream Forge relies on.

Dramatiq's defaults are not ours: 20 retries with its own backoff, a 10-minute time limit,
callbacks and pipelines we never use. The core retry rule decides every retry (it re-enqueues
with a delay), so Dramatiq's Retries runs with `max_retries=0`: a failed message goes straight
to the queue's dead-letter set (`<namespace>:<queue>.XQ`). Nothing here runs at import time;
the composition root calls `make_broker` and passes the broker on (no `dramatiq.set_broker`).
"""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Middleware, Retries, TimeLimit

from dreamforge_adapters.dramatiq_queue.wake import WakeableRedisBroker
from dreamforge_core.errors import Unavailable

#: A worker silent this long is taken for dead and its unacked messages are redelivered.
#: Idle workers poll (and so heartbeat) every `poll_ms`, or sooner when an enqueue wakes them;
#: busy ones keep heartbeating through their delay-queue consumer, so a long job does not look
#: dead.
DEFAULT_HEARTBEAT_TIMEOUT_MS = 60_000
#: Dead-lettered messages stay in the XQ this long (Dramatiq's own default: 7 days).
DEFAULT_DEAD_MESSAGE_TTL_MS = 7 * 24 * 3600 * 1000
#: Out of a million broker commands, how many also run maintenance: requeue the unacked
#: messages of dead workers, drop expired dead letters. Dramatiq's default (1000, 0.1%) means
#: minutes to redeliver after a crash; 2% gives seconds with workers polling every 100 ms.
#: Without a dead worker, maintenance costs two ZRANGEBYSCOREs.
DEFAULT_MAINTENANCE_CHANCE = 20_000
#: Backstop for an actor that declares no limit of its own (job actors always declare one).
DEFAULT_TIME_LIMIT_MS = 3_600_000


def make_broker(
    redis_url: str,
    *,
    namespace: str = "dramatiq",
    heartbeat_timeout_ms: int = DEFAULT_HEARTBEAT_TIMEOUT_MS,
    dead_message_ttl_ms: int = DEFAULT_DEAD_MESSAGE_TTL_MS,
    maintenance_chance: int = DEFAULT_MAINTENANCE_CHANCE,
    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
    connect_timeout_s: float = 2.0,
    socket_timeout_s: float = 10.0,
) -> RedisBroker:
    """A broker for one Redis; every process (API, worker) makes its own.

    The socket timeouts keep a hung Redis from blocking the API's enqueue or a worker's poll
    forever: they surface as `Unavailable` (enqueue) or a consumer restart (worker).
    """
    client = redis.Redis.from_url(
        redis_url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
        health_check_interval=30,
    )
    middleware: list[Middleware] = [
        CurrentMessage(),
        TimeLimit(time_limit=time_limit_ms),
        Retries(max_retries=0),
    ]
    return WakeableRedisBroker(  # type: ignore[no-untyped-call]  # dramatiq leaves it untyped
        client=client,
        middleware=middleware,
        namespace=namespace,
        maintenance_chance=maintenance_chance,
        heartbeat_timeout=heartbeat_timeout_ms,
        dead_message_ttl=dead_message_ttl_ms,
    )


def ping_broker(broker: RedisBroker) -> None:
    """Raises Unavailable unless the broker's Redis answers (for readiness checks)."""
    try:
        broker.client.ping()
    except redis.RedisError as e:
        raise Unavailable(f"the job queue (Redis) cannot be reached: {e}") from e


def ping(redis_url: str, *, timeout_s: float = 2.0) -> None:
    """Raises Unavailable unless the Redis at `redis_url` answers; for start-up checks."""
    client = redis.Redis.from_url(
        redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    try:
        client.ping()
    except redis.RedisError as e:
        raise Unavailable(f"the job queue (Redis) cannot be reached: {e}") from e
    finally:
        client.close()


def close_broker(broker: RedisBroker) -> None:
    """Drops the broker's Redis connections (RedisBroker.close does nothing)."""
    broker.client.close()
    broker.client.connection_pool.disconnect()
