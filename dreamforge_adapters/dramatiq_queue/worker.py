"""Runs a Dramatiq worker inside this process (`dreamforge worker`: one process per GPU).

Two things the `dramatiq` CLI does that an in-process worker must do itself: emit the
`process_boot` signal (without it TimeLimit's watchdog thread never starts and time limits are
silently ignored), and size the prefetch. Dramatiq prefetches two messages per thread; a GPU
worker busy for minutes would sit on the second while another GPU idles, so we fetch only as
many as there are threads.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker

from dreamforge_adapters.dramatiq_queue.keys import GPU_QUEUE

#: How often an idle consumer fetches on its own (Dramatiq's default is 1000 ms). An enqueue
#: wakes it sooner (see `wake.py`); the poll finds delayed and redelivered messages, and each
#: poll is one short Lua call that is also the worker's heartbeat.
DEFAULT_POLL_MS = 200

_booted: weakref.WeakSet[RedisBroker] = weakref.WeakSet()
_boot_lock = threading.Lock()


def start_worker(
    broker: RedisBroker,
    *,
    queues: Iterable[str] = (GPU_QUEUE,),
    threads: int = 1,
    poll_ms: int = DEFAULT_POLL_MS,
) -> Worker:
    """Starts consuming `queues` with `threads` worker threads; returns the running Worker.

    Declare the actors first. Use one Worker per broker: Dramatiq adds the worker to the
    broker's middleware and never removes it.
    """
    if broker.heartbeat_timeout < 5 * poll_ms:
        raise ValueError(
            f"heartbeat timeout {broker.heartbeat_timeout} ms is too close to the poll interval "
            f"{poll_ms} ms: live workers would be taken for dead and their jobs redelivered"
        )
    with _boot_lock:
        if broker not in _booted:
            broker.emit_after("process_boot")
            _booted.add(broker)
    worker = Worker(broker, queues=set(queues), worker_threads=threads, worker_timeout=poll_ms)
    worker.queue_prefetch = threads
    worker.start()
    return worker


def run_worker(
    broker: RedisBroker,
    *,
    stop: threading.Event,
    queues: Iterable[str] = (GPU_QUEUE,),
    threads: int = 1,
    poll_ms: int = DEFAULT_POLL_MS,
    shutdown_timeout_s: float = 600.0,
) -> None:
    """Consumes until `stop` is set, then stops gracefully: running jobs get up to
    `shutdown_timeout_s` to finish, prefetched messages go back to the queue. A job still
    running after that keeps its message unacknowledged; another worker redelivers it once
    this process's heartbeat expires."""
    worker = start_worker(broker, queues=queues, threads=threads, poll_ms=poll_ms)
    try:
        stop.wait()
    finally:
        worker.stop(timeout=int(shutdown_timeout_s * 1000))
