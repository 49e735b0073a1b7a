from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    """Hands job ids to workers. Delivery is at least once; ExecuteJob makes repeats no-ops."""

    def enqueue(self, job_id: str, delay_s: float = 0.0) -> None: ...

    def dead_letter(self, job_id: str, reason: str) -> None:
        """Parks a job that failed for good, for an operator to inspect or requeue."""
        ...
