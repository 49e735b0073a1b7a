"""The webhook deliverer: a thread that claims due messages from the outbox and posts them on a
small pool of its own, so a slow receiver holds one of its threads and never a job's.

It reads when the next message is due every `poll_s` (sooner when one is due sooner), and
claims only then: the outbox is in the database, any process's change may have stored a
message, and an idle look is one read of a small index, not a write. A message stored by this
process rings its `Doorbell`, and the deliverer looks at once: the worker that ends a job is
the one that tells of it.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from dreamforge_core.domain.webhooks import Delivery
from dreamforge_core.use_cases.deliver_webhooks import DeliverWebhooks

log = logging.getLogger(__name__)


class Doorbell:
    """Rung by the job store of this process once a write with webhook messages committed."""

    def __init__(self) -> None:
        self._rung = threading.Event()

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout_s: float) -> None:
        """Returns when rung, or after `timeout_s`."""
        self._rung.wait(timeout_s)
        self._rung.clear()


class WebhookDeliverer:
    def __init__(
        self,
        deliver: DeliverWebhooks,
        doorbell: Doorbell,
        *,
        threads: int = 8,
        poll_s: float = 0.1,
    ) -> None:
        self._deliver = deliver
        self._doorbell = doorbell
        self._threads = threads
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._busy = 0  # threads with an attempt, or reserved for a claim in progress
        self._ended = threading.Condition()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dreamforge-webhook")
        self._thread = threading.Thread(
            target=self._deliver_forever, name="dreamforge-webhooks", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Takes no more messages; attempts in flight get `timeout_s` to end. One cut short is
        claimed again once its claim lapses, under the same id."""
        self._stop.set()
        self._doorbell.ring()
        self._thread.join(timeout_s)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver_forever(self) -> None:
        while not self._stop.is_set():
            try:
                wait_s = self._deliver.seconds_to_next(self._poll_s)
                if wait_s <= 0:
                    self._claim()
                    continue
            except Exception:  # the store is down: the next look tries again
                log.warning("webhooks: could not read the outbox", exc_info=True)
                wait_s = self._poll_s * 10
            self._doorbell.wait(wait_s)

    def _claim(self) -> None:
        """Claims as many due messages as there are free threads (waiting a little for one
        when none is), and starts their attempts."""
        with self._ended:
            if not self._ended.wait_for(lambda: self._busy < self._threads, self._poll_s):
                return
            free = self._threads - self._busy
            self._busy = self._threads
        claimed: list[Delivery] = []
        try:
            claimed = self._deliver.claim(free)
        finally:
            with self._ended:
                self._busy -= free - len(claimed)
        for delivery in claimed:
            self._pool.submit(self._attempt, delivery).add_done_callback(self._done)
        if not claimed:  # another deliverer took them: look again after a pause
            self._stop.wait(self._poll_s)

    def _attempt(self, delivery: Delivery) -> None:
        try:
            self._deliver.attempt(delivery)
        except Exception:  # its claim lapses and it is attempted again
            log.warning("webhooks: attempt at %s failed to record", delivery.id, exc_info=True)

    def _done(self, _: Future[None]) -> None:
        with self._ended:
            self._busy -= 1
            self._ended.notify()
