from __future__ import annotations

from typing import Protocol


class JobMetrics(Protocol):
    """What execution reports to monitoring (Prometheus in the service)."""

    def job_finished(self, state: str, duration_s: float) -> None: ...

    def item_finished(self, duration_s: float) -> None: ...

    def queue_wait(self, seconds: float) -> None: ...

    def error(self, code: str) -> None: ...

    def model_loaded(self, seconds: float) -> None: ...

    def memory(self, kind: str, start_bytes: int, peak_bytes: int, end_bytes: int) -> None:
        """Accelerator memory of one item (`cuda`), or process memory where there is none."""
        ...
