"""The JobQueue port on Dramatiq + Redis: the stack deployment's durable queue.

Messages carry the job id only; the database holds the job. Delivery is at least once (a
worker that dies mid-job has its message redelivered after the heartbeat timeout) and
`RunGenerateJob` claims jobs atomically, so a repeat is a no-op.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from uuid import uuid4

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.errors import DecodeError

from dreamforge_adapters.dramatiq_queue.broker import ping_broker
from dreamforge_adapters.dramatiq_queue.delivery import current_delivery
from dreamforge_adapters.dramatiq_queue.keys import GPU_QUEUE, QueueKeys, actor_name_for
from dreamforge_adapters.dramatiq_queue.records import DeadLetter, decode_record, encode_record
from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.dead_letter_queue import DeadLetterQueue
from dreamforge_core.ports.job_queue import JobQueue

log = logging.getLogger(__name__)


class DramatiqJobQueue(JobQueue, DeadLetterQueue):
    """Sends job ids to the job actor of one queue; parks failed jobs in Dramatiq's XQ.

    `dead_letter` has two paths. Called while this thread runs the job's own message (what
    `RunGenerateJob` does), it records the reason and marks the delivery; the actor then makes
    Dramatiq nack that message into the XQ, so the job is there once and is not retried.
    Called anywhere else (a sweeper, an operator), it writes a fresh message for the job into
    the XQ itself and records the reason, so both paths look the same to `depth()`,
    `dead_letters()` and `requeue_dead_letters()`.
    """

    def __init__(self, broker: RedisBroker, *, queue_name: str = GPU_QUEUE) -> None:
        self._broker = broker
        self._client = broker.client
        self._queue_name = queue_name
        self._actor_name = actor_name_for(queue_name)
        self._keys = QueueKeys(broker.namespace, queue_name)

    def enqueue(self, job_id: str, delay_s: float = 0.0) -> None:
        # Round up: the port promises "not before delay_s", and Dramatiq counts whole ms.
        delay_ms = math.ceil(delay_s * 1000) if delay_s > 0 else None
        try:
            self._broker.enqueue(self._message(job_id), delay=delay_ms)
        except redis.RedisError as e:
            raise Unavailable(f"could not enqueue job {job_id}: {e}", job_id=job_id) from e

    def dead_letter(self, job_id: str, reason: str) -> None:
        log.warning("job %s dead-lettered: %s", job_id, reason)
        current = current_delivery(job_id)
        try:
            if current is not None:
                current.dead_letter_reason = reason  # the actor nacks the message into the XQ
                self._client.hset(
                    self._keys.dead_letter_records,
                    job_id,
                    encode_record(reason, current.message_id),
                )
                return
            message = self._message(job_id).copy(options={"redis_message_id": str(uuid4())})
            redis_id = message.options["redis_message_id"]
            pipe = self._client.pipeline(transaction=True)
            pipe.zadd(self._keys.dead_set, {redis_id: current_millis()})
            pipe.hset(self._keys.dead_msgs, redis_id, message.encode())
            pipe.hset(
                self._keys.dead_letter_records,
                job_id,
                encode_record(reason, message.message_id),
            )
            pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"could not dead-letter job {job_id}: {e}", job_id=job_id) from e

    def depth(self) -> dict[str, int]:
        """Message counts for metrics; `running` counts fetched, unacknowledged messages
        (including those of a dead worker until they are redelivered)."""
        keys = self._keys
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.llen(keys.ready)
            pipe.hlen(keys.msgs)
            pipe.hlen(keys.delayed_msgs)
            pipe.zcard(keys.dead_set)
            ready, bodies, delayed, dead = pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"could not read the queue depth: {e}") from e
        return {
            "ready": ready,
            "delayed": delayed,
            "dead_letter": dead,
            "running": max(0, bodies - ready),
        }

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead-lettered job not requeued since, oldest first."""
        try:
            raw = self._client.hgetall(self._keys.dead_letter_records)
        except redis.RedisError as e:
            raise Unavailable(f"could not list dead letters: {e}") from e
        found = [decode_record(_text(job_id), value) for job_id, value in raw.items()]
        return sorted(found, key=lambda d: d.at)

    def requeue_dead_letters(self, job_ids: Iterable[str] | None = None) -> int:
        """Puts dead-lettered jobs (all of them, or `job_ids`) back on the queue; returns how
        many jobs were requeued. A job whose XQ entry expired but whose record remains is
        requeued too. Enqueue comes before removal, so a crash repeats rather than loses one.
        The job must be runnable again (`queued`) for the worker to do anything with it."""
        wanted = None if job_ids is None else set(job_ids)
        keys = self._keys
        try:
            in_xq = self._dead_messages_by_job()
            recorded = {_text(j) for j in self._client.hkeys(keys.dead_letter_records)}
            targets = set(in_xq) | recorded
            if wanted is not None:
                targets &= wanted
            for job_id in sorted(targets):
                self.enqueue(job_id)
                pipe = self._client.pipeline(transaction=True)
                redis_ids = in_xq.get(job_id, [])
                if redis_ids:
                    pipe.zrem(keys.dead_set, *redis_ids)
                    pipe.hdel(keys.dead_msgs, *redis_ids)
                pipe.hdel(keys.dead_letter_records, job_id)
                pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"could not requeue dead letters: {e}") from e
        return len(targets)

    def ping(self) -> None:
        """Raises Unavailable unless Redis answers."""
        ping_broker(self._broker)

    def _message(self, job_id: str) -> Message[None]:
        return Message(
            queue_name=self._queue_name,
            actor_name=self._actor_name,
            args=(job_id,),
            kwargs={},
            options={},
        )

    def _dead_messages_by_job(self) -> dict[str, list[str]]:
        by_job: dict[str, list[str]] = {}
        for redis_id, body in self._client.hgetall(self._keys.dead_msgs).items():
            try:
                message = Message.decode(body if isinstance(body, bytes) else str(body).encode())
            except DecodeError:
                log.warning("undecodable message %r in %s", redis_id, self._keys.dead_msgs)
                continue
            if message.actor_name == self._actor_name and message.args:
                by_job.setdefault(str(message.args[0]), []).append(_text(redis_id))
        return by_job


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
