"""One worker's side of model routing (ADR 0034): the models it holds warm, what it tells the
other workers, and which queued job it takes when it gets a turn.

The worker learns what its runner holds warm from the runner's load notes (`warm` in their
data: the model ids the runner keeps after the load), and until a note says otherwise it
counts a claimed job's model as warm, the most recent first, at most `capacity` of them. It
advertises that list on every change and from a heartbeat, so a worker that dies drops out of
the roster within `ttl_s`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import datetime

from dreamforge_core.domain.routing import Pick, pick_turn
from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.threads import Threads
from dreamforge_core.ports.warm_models import WarmRoster

#: How many queued jobs a turn looks at: one priority's front is enough to find a warm one.
FRONT_SIZE = 64
#: How long an advertisement lives without renewal; the heartbeat renews it three times as
#: often, so one missed beat does not drop a live worker.
ADVERTISEMENT_TTL_S = 6.0


class ModelRouting:
    def __init__(
        self,
        roster: WarmRoster,
        *,
        worker_id: str,
        max_wait_s: float,
        capacity: int = 1,
        ttl_s: float = ADVERTISEMENT_TTL_S,
    ) -> None:
        self._roster = roster
        self._worker_id = worker_id
        self._max_wait_s = max_wait_s
        self._capacity = max(1, capacity)
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._here: list[str] = []  # most recently used first
        self._stopped = threading.Event()

    @property
    def here(self) -> list[str]:
        with self._lock:
            return list(self._here)

    def pick(self, repo: JobRepo, job_type: str, now: datetime) -> Pick:
        """The queued job this worker should start now, or how long until one is due."""
        front = repo.queued_front(job_type, now, FRONT_SIZE)
        if not front:
            return Pick(None)
        try:
            elsewhere = self._roster.warm_elsewhere(self._worker_id)
        except Unavailable:
            elsewhere = frozenset()  # nobody known warm: this worker takes what comes, unrouted
        return pick_turn(front, self.here, elsewhere, now, self._max_wait_s)

    def taking(self, model_id: str) -> None:
        """This worker claimed a job on `model_id`: it is (or is about to be) warm here."""
        with self._lock:
            if self._here[:1] == [model_id]:
                return
            self._here = [model_id, *(m for m in self._here if m != model_id)]
            del self._here[self._capacity :]
        self._advertise()

    def reported(self, model_ids: Sequence[str]) -> None:
        """The runner says which models it holds warm now."""
        with self._lock:
            if list(model_ids) == self._here:
                return
            self._here = list(model_ids)
        self._advertise()

    def start(self, threads: Threads) -> None:
        """Advertises now and then every third of the time to live, until `close`."""
        self._advertise()

        def beat() -> None:
            while not self._stopped.wait(self._ttl_s / 3):
                self._advertise()

        threads.daemon("dreamforge-warm-models", beat)

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(Unavailable):  # else the entry lapses on its own
            self._roster.withdraw(self._worker_id)

    def _advertise(self) -> None:
        # A failure waits for the next beat; meanwhile jobs wait at most max_wait_s.
        with contextlib.suppress(Unavailable):
            self._roster.advertise(self._worker_id, self.here, self._ttl_s)
