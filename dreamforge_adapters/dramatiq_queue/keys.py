"""Queue names and the Redis key layout the adapter reads besides Dramatiq itself.

Dramatiq's Redis broker keeps its state under `<namespace>:` (see `dispatch.lua` in dramatiq):
a list of ready message ids per queue, a hash of message bodies, a `.DQ` twin for delayed
messages and a `.XQ` sorted set (+ `.XQ.msgs` hash) for dead letters. `depth()` and the
dead-letter helpers read those keys directly, so the layout is written down once, here; a
Dramatiq upgrade that changes it breaks `tests/integration/test_dramatiq_queue.py` first.
"""

from __future__ import annotations

GPU_QUEUE = "gpu"  # generate jobs: one message at a time per GPU worker
IO_QUEUE = "io"  # background model downloads: never on the GPU queue


def actor_name_for(queue_name: str) -> str:
    """One job actor per queue; the sender and the worker agree on its name through this."""
    return f"dreamforge.{queue_name}_job"


def wake_key(namespace: str, queue_name: str) -> str:
    """Ours: a list whose tokens wake an idle consumer of the queue (see `wake.py`)."""
    return f"{namespace}:{queue_name}.wake"


class QueueKeys:
    """The Redis keys of one Dramatiq queue in one namespace."""

    __slots__ = ("dead_letter_records", "dead_msgs", "dead_set", "delayed_msgs", "msgs", "ready")

    def __init__(self, namespace: str, queue_name: str) -> None:
        base = f"{namespace}:{queue_name}"
        self.ready = base  # list of message ids waiting for a worker
        self.msgs = f"{base}.msgs"  # id -> body, for ready and in-flight messages
        self.delayed_msgs = f"{base}.DQ.msgs"  # id -> body, for messages with an eta
        self.dead_set = f"{base}.XQ"  # sorted set: id scored by dead-letter time (ms)
        self.dead_msgs = f"{base}.XQ.msgs"  # id -> body of dead-lettered messages
        # Ours, not Dramatiq's: job id -> why and when, kept after the XQ entry expires.
        self.dead_letter_records = f"{namespace}:__dreamforge_dead_letters__.{queue_name}"
