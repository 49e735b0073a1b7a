"""Where a deployment's workers say which models they keep warm (ADR 0034).

Each worker advertises its warm models with a time to live and renews the advertisement
while it runs; one that dies stops renewing and drops out. Routing reads the models warm on
the other live workers to let a job wait, briefly, for a worker that holds its model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class WarmRoster(Protocol):
    def advertise(self, worker_id: str, model_ids: Sequence[str], ttl_s: float) -> None:
        """This worker holds `model_ids` warm; the entry lapses `ttl_s` from now."""
        ...

    def warm_elsewhere(self, worker_id: str) -> frozenset[str]:
        """The models that live workers other than `worker_id` hold warm."""
        ...

    def withdraw(self, worker_id: str) -> None:
        """This worker stops: its entry goes at once."""
        ...
