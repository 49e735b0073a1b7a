from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from structlog.contextvars import bound_contextvars

from dreamforge_core.ports.job_queue import JobQueue

log = logging.getLogger(__name__)


class InProcessJobQueue(JobQueue):
    """A delay-aware queue served by worker threads in this process.

    Jobs run one at a time per worker thread (one thread: images are generated sequentially,
    as on one GPU). Nothing here is durable: on start-up RecoverJobs re-enqueues every
    unfinished job from the database, which is the durable record.
    """

    def __init__(self, handler: Callable[[str], None] | None = None, workers: int = 1) -> None:
        self._handler = handler
        self._workers = workers
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._busy = 0
        self.dead_letters: list[tuple[str, str]] = []

    def enqueue(self, job_id: str, delay_s: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(
                self._heap, (time.monotonic() + max(0.0, delay_s), next(self._order), job_id)
            )
            self._cond.notify()

    def dead_letter(self, job_id: str, reason: str) -> None:
        with self._cond:
            self.dead_letters.append((job_id, reason))
        log.warning("job %s dead-lettered: %s", job_id, reason)

    def depth(self) -> dict[str, int]:
        with self._cond:
            now = time.monotonic()
            ready = sum(1 for due, _, _ in self._heap if due <= now)
            return {
                "ready": ready,
                "delayed": len(self._heap) - ready,
                "dead_letter": len(self.dead_letters),
                "running": self._busy,
            }

    def start(self, handler: Callable[[str], None] | None = None) -> None:
        if handler is not None:
            self._handler = handler
        if self._handler is None:
            raise RuntimeError("the queue needs a handler before it starts")
        self._stopping = False
        for n in range(self._workers):
            thread = threading.Thread(
                target=self._serve, name=f"dreamforge-worker-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop_taking(self) -> None:
        """Worker threads take no further job; the ones they run go on (`stop` waits for them)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_taking()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def run_due(self) -> int:
        """Runs every job that is due now on the caller's thread (for tests); returns how many."""
        ran = 0
        while (job_id := self._pop_due()) is not None:
            assert self._handler is not None
            with bound_contextvars(job_id=job_id):
                self._handler(job_id)
            ran += 1
        return ran

    def _pop_due(self) -> str | None:
        with self._cond:
            if self._heap and self._heap[0][0] <= time.monotonic():
                return heapq.heappop(self._heap)[2]
            return None

    def _serve(self) -> None:
        assert self._handler is not None
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                job_id = heapq.heappop(self._heap)[2]
                self._busy += 1
            # every line the run logs, the last guard's included, names its job
            with bound_contextvars(job_id=job_id):
                try:
                    self._handler(job_id)
                except Exception:  # the handler records failures on the job; a last guard
                    log.exception("job %s: unhandled error in worker", job_id)
                finally:
                    with self._cond:
                        self._busy -= 1
