"""Idle workers wake when a job is enqueued, instead of at their next poll.

Dramatiq's Redis consumer polls: an empty fetch is followed by a sleep of up to the worker
timeout, so pickup waits half a poll on average, and a short poll costs Redis a Lua call per
poll per worker. Here an idle consumer blocks on `BLPOP <namespace>:<queue>.wake` for one
poll interval instead of sleeping, and every immediate enqueue pushes a token onto that list:
one waiting worker wakes at once and fetches. Without tokens the consumer still fetches once
per interval, which keeps its heartbeat and picks up delayed messages and redeliveries.

A busy consumer (every prefetched message still running) has nothing to fetch; it waits on
an event that the worker thread sets when it acknowledges or rejects its message, so the next
message is fetched within a millisecond or two of the last job's end instead of at the next
poll tick. The wait is still bounded by the poll interval, as the old sleep was.

Tokens left while every worker is busy are trimmed to a few and expire; a stale token only
costs a worker one empty fetch.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed

from dreamforge_adapters.dramatiq_queue.keys import wake_key

#: Tokens kept per queue: enough for a burst to wake every idle worker of a big pool.
WAKE_TOKENS_KEPT = 64
#: Tokens older than this are dropped with their list (every push renews it).
WAKE_TTL_MS = 60_000


class _WakeableConsumer(_RedisConsumer):
    def __init__(self, broker: WakeableRedisBroker, queue_name: str, prefetch: int, timeout: int):
        # Dramatiq's own back-off sleep is switched off (0 ms); the wait happens in BLPOP.
        super().__init__(broker, queue_name, prefetch, 0)  # type: ignore[no-untyped-call]
        self._poll_s = timeout / 1000
        self._wake_key = wake_key(broker.namespace, queue_name)
        self._settled = threading.Event()  # set when a message of ours is acked or nacked

    def ack(self, message: Any) -> None:
        try:
            super().ack(message)  # type: ignore[no-untyped-call]
        finally:
            self._settled.set()

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)  # type: ignore[no-untyped-call]
        finally:
            self._settled.set()

    def __next__(self) -> Any:
        # Cleared before the count is read: an ack after this point either frees a slot the
        # fetch below sees, or sets the event the wait below returns on.
        self._settled.clear()
        message = super().__next__()  # type: ignore[no-untyped-call]
        if message is None:
            if self.outstanding_message_count < self.prefetch:
                try:
                    self.broker.client.blpop([self._wake_key], timeout=self._poll_s)
                except redis.ConnectionError as e:
                    raise ConnectionClosed(e) from None  # type: ignore[no-untyped-call]
            else:  # busy: nothing may be fetched until one of our messages is settled
                self._settled.wait(self._poll_s)
        return message


class WakeableRedisBroker(RedisBroker):
    """Dramatiq's Redis broker whose idle consumers are woken by enqueues."""

    @property
    def consumer_class(self) -> type[_WakeableConsumer]:
        return _WakeableConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        sent: Message[Any] = super().enqueue(message, delay=delay)
        if delay is None:  # a delayed message is found by the delay consumer's own poll
            key = wake_key(self.namespace, sent.queue_name)
            pipe = self.client.pipeline(transaction=False)
            pipe.lpush(key, 1)
            pipe.ltrim(key, 0, WAKE_TOKENS_KEPT - 1)
            pipe.pexpire(key, WAKE_TTL_MS)
            pipe.execute()
        return sent
