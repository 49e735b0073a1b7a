"""The real clock, seed source and threads, and a metrics sink that records nothing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from dreamforge_adapters.system.threads import SystemThreads
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.seed_source import SeedSource


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomSeeds(SeedSource):
    """Seeds from the OS random source, so no two processes repeat a sequence."""

    def draw(self) -> int:
        return secrets.randbits(32)


class NoMetrics(JobMetrics):
    def job_finished(
        self, state: str, duration_s: float, *, job_type: str = "generate", images: int = 0
    ) -> None:
        return None

    def item_finished(self, duration_s: float) -> None:
        return None

    def items_failed(self, count: int) -> None:
        return None

    def model_downloaded(self, fetched_bytes: int, seconds: float) -> None:
        return None

    def queue_wait(self, seconds: float) -> None:
        return None

    def worker_gap(self, seconds: float) -> None:
        return None

    def error(self, code: str) -> None:
        return None

    def model_loaded(self, seconds: float) -> None:
        return None

    def memory(self, kind: str, start_bytes: int, peak_bytes: int, end_bytes: int) -> None:
        return None

    def webhook_attempt(self, outcome: str) -> None:
        return None


__all__ = ["NoMetrics", "RandomSeeds", "SystemClock", "SystemThreads"]
