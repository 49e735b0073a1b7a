"""The sweeper: RecoverJobs passes on a timer, in every process that runs jobs (a stack worker,
`dreamforge serve`), so that no job stays `running` or `queued` with nobody on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from dreamforge_core.use_cases.recover_jobs import RecoverJobs

log = logging.getLogger(__name__)


class Sweeper:
    """Runs each RecoverJobs every `every_s` on a daemon thread; the first pass comes one
    interval after `start`."""

    def __init__(self, recovers: Sequence[RecoverJobs], every_s: float) -> None:
        self._recovers = list(recovers)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._sweep_forever, name="dreamforge-sweeper", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self._every_s):
            for recover in self._recovers:
                try:
                    found = recover()
                    if found:
                        log.info("sweeper: put %d job(s) back on the queue", found)
                except Exception:  # a dependency is down; the next sweep tries again
                    log.warning("sweeper: pass failed", exc_info=True)
