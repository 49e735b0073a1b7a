"""The job actor: decode the job id, call the use case, nothing else (STYLE guideline 9).

Actors bind to the broker they are declared on, so this is a function the composition root
calls after `make_broker`, never a decorator run at import time.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq import Actor
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage
from structlog.contextvars import bound_contextvars

from dreamforge_adapters.dramatiq_queue import delivery
from dreamforge_adapters.dramatiq_queue.keys import GPU_QUEUE, QueueKeys, actor_name_for
from dreamforge_adapters.dramatiq_queue.records import record_quietly


class DeadLettered(Exception):
    """Raised by the job actor after its handler dead-lettered the job, so that Dramatiq nacks
    the message into the XQ instead of acknowledging it."""


def declare_job_actor(
    broker: RedisBroker,
    handler: Callable[[str], None],
    *,
    queue_name: str = GPU_QUEUE,
    time_limit_ms: int,
) -> Actor[[str], None]:
    """Declares the actor that runs `handler(job_id)` for each message on `queue_name`.

    `time_limit_ms` is a backstop above the core's own step timeout: Dramatiq interrupts the
    thread only when it next runs Python code. Retries stay at 0 whatever happens: the core
    has already re-enqueued a job worth retrying, so a failed message is dead-lettered.
    """
    keys = QueueKeys(broker.namespace, queue_name)

    def run_job(job_id: str) -> None:
        with bound_contextvars(job_id=job_id):  # every line this delivery logs names its job
            deliver(job_id)

    def deliver(job_id: str) -> None:
        message = CurrentMessage.get_current_message()
        current = delivery.Delivery(job_id, message.message_id if message is not None else None)
        token = delivery.begin(current)
        try:
            handler(job_id)
        except BaseException as e:  # TimeLimitExceeded is a BaseException; re-raised below
            if current.dead_letter_reason is None:
                reason = f"unhandled: {e!r}"
                record_quietly(broker.client, keys, job_id, reason, current.message_id)
            raise
        finally:
            delivery.end(token)
        if current.dead_letter_reason is not None:
            raise DeadLettered(current.dead_letter_reason)

    declare = dramatiq.actor(
        actor_name=actor_name_for(queue_name),
        queue_name=queue_name,
        broker=broker,
        time_limit=time_limit_ms,
        max_retries=0,
        throws=(DeadLettered,),  # an expected outcome: logged at info, no traceback
    )
    return declare(run_job)
