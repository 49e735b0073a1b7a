"""The fake runner's warm pipelines: what a real runner's model cache costs, without weights.

A real runner keeps a few pipelines: the one in use on the device, idle ones moved to CPU
memory (moving one back costs a fraction of a load), and it drops the least recently used
when the count or the memory budget is reached. This keeps the same books, sleeps the
configured times, and counts loads and moves so tests and benchmarks can see them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

#: What one simulated SDXL pipeline occupies (fp16 UNet, VAE and both text encoders).
MODEL_MB = 7_000
#: Moving an idle pipeline back from CPU memory costs this share of a load from disk.
RESTORE_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Readied:
    """How a model became ready for one call."""

    how: str  # "loaded" (from disk), "restored" (from CPU memory) or "cached" (on the device)
    seconds: float
    warm: list[str]  # the models kept warm afterwards, most recent first


class WarmPipelines:
    """At most `max_models` pipelines, fewer when `budget_mb` cannot hold that many."""

    def __init__(
        self, load_s: float = 0.0, max_models: int = 1, budget_mb: int | None = None
    ) -> None:
        self.load_s = load_s
        fit = max_models if budget_mb is None else min(max_models, budget_mb // MODEL_MB)
        self.capacity = max(1, fit)
        self.loads = 0
        self.restores = 0
        self._lock = threading.Lock()
        self._warm: list[str] = []  # the first is on the device, the rest in CPU memory

    @property
    def warm(self) -> list[str]:
        with self._lock:
            return list(self._warm)

    def ready(self, model_id: str) -> Readied:
        """Makes `model_id` the pipeline on the device, loading or moving it as needed."""
        with self._lock:
            if self._warm[:1] == [model_id]:
                return Readied("cached", 0.0, list(self._warm))
            if model_id in self._warm:
                how, seconds = "restored", self.load_s * RESTORE_SHARE
                self.restores += 1
                self._warm.remove(model_id)
            else:
                how, seconds = "loaded", self.load_s
                self.loads += 1
                del self._warm[self.capacity - 1 :]  # dropped before the load, as a GPU must
            self._warm.insert(0, model_id)
            warm = list(self._warm)
        if seconds > 0:
            time.sleep(seconds)
        return Readied(how, seconds, warm)
