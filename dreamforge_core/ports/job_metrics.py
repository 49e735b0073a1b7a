from __future__ import annotations

from typing import Protocol


class JobMetrics(Protocol):
    """What execution reports to monitoring (Prometheus in the service)."""

    def job_finished(
        self, state: str, duration_s: float, *, job_type: str = "generate", images: int = 0
    ) -> None:
        """A job reached `state`; `images`: how many it stored (batch size metrics)."""
        ...

    def item_finished(self, duration_s: float) -> None: ...

    def items_failed(self, count: int) -> None:
        """Items that were running when their attempt failed."""
        ...

    def queue_wait(self, seconds: float) -> None: ...

    def worker_gap(self, seconds: float) -> None:
        """A busy worker's idle time from one job's end to the start of a job that waited."""
        ...

    def error(self, code: str) -> None: ...

    def model_loaded(self, seconds: float) -> None: ...

    def model_downloaded(self, fetched_bytes: int, seconds: float) -> None:
        """A background download installed a model, receiving `fetched_bytes` over the network."""
        ...

    def memory(self, kind: str, start_bytes: int, peak_bytes: int, end_bytes: int) -> None:
        """Accelerator memory of one item (`cuda`), or process memory where there is none."""
        ...

    def webhook_attempt(self, outcome: str) -> None:
        """One webhook attempt ended: `delivered`, `retried` (it failed, another follows) or
        `given_up` (it failed, and was the last)."""
        ...
