from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    """Hands job ids to workers. Delivery is at least once; RunGenerateJob makes repeats no-ops."""

    def enqueue(self, job_id: str, delay_s: float = 0.0) -> None: ...

    def depth(self) -> dict[str, int]:
        """Messages by kind: `ready`, `delayed`, `dead_letter`, `running`."""
        ...

    def dead_letter(self, job_id: str, reason: str) -> None:
        """Parks a job that failed for good, for an operator to inspect or requeue."""
        ...
