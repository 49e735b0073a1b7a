"""What the runner reports while it generates one image, turned into job events and
metrics."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dreamforge_core.domain.events import LivePreview
from dreamforge_core.ports.runner import (
    NOTE_CLEANUP,
    NOTE_MEMORY,
    NOTE_MODEL_CACHED,
    NOTE_MODEL_LOADED,
)
from dreamforge_core.ports.stop_signal import Stopping
from dreamforge_core.use_cases.job_ports import JobPorts
from dreamforge_core.use_cases.running_job import RunningJob

#: How long a record may wait for another write to ride along with (see RunnerReports).
RIDE_ALONG_S = 0.01


class RunnerReports:
    """The runner's listener for item `index`, with as few writes as a fast runner allows
    and no event held back long:

    - a step is recorded and written when the job's progress pacer says a write is due;
      other steps are dropped, except the final one;
    - past the drain window of a graceful stop, the next step stops the item (`Stopping`,
      raised through the runner, which lets it pass); notes are still recorded;
    - a preview goes to the event bus at once and is never recorded;
    - a note, and the final step of an item faster than `RIDE_ALONG_S`, is recorded without a
      write: it rides along with the next one (the item's record comes right after a fast
      item). At the next runner report after it has waited `RIDE_ALONG_S`, it is written,
      so it is late by about one step at most, never by a whole progress interval.
    """

    def __init__(
        self,
        ports: JobPorts,
        run: RunningJob,
        index: int,
        *,
        on_warm: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self._p = ports
        self._on_warm = on_warm  # told the models a load note says the runner holds warm
        self._run = run
        self._index = index
        self._began = time.monotonic()
        self._memory_kinds: set[str] = set()  # memory kinds this item has reported

    def step(self, done: int, total: int) -> None:
        run = self._run
        if self._p.stop.overdue:
            raise Stopping(f"the worker stopped image {self._index + 1} at its drain deadline")
        tick = time.monotonic()
        final = done == total
        write = run.pacer.due(tick) or run.pacer.held_for(tick) >= RIDE_ALONG_S
        if final and tick - self._began >= RIDE_ALONG_S:
            write = True  # a slow item: its end of denoising is worth showing now
        if not (write or final):
            return
        with run.lock:
            run.job.advance_item(
                self._index,
                "denoise",
                done / total,
                self._p.clock.now(),
                step=done,
                total_steps=total,
            )
            if write:
                run.save()
            else:
                run.hold(tick)

    def preview(self, step: int, total: int, jpeg: bytes) -> None:
        """Straight to the bus, beside the job's record: a preview is never stored."""
        image = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        self._p.bus.publish_preview(LivePreview(self._run.job.id, self._index, step, total, image))

    def note(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        run = self._run
        warm = data.get("warm")
        if code in (NOTE_MODEL_LOADED, NOTE_MODEL_CACHED) and self._on_warm and warm is not None:
            self._on_warm([str(m) for m in warm])
        if code == NOTE_MODEL_LOADED:
            self._p.metrics.model_loaded(float(data.get("seconds", 0.0)))
        elif code == NOTE_MEMORY or (code == NOTE_CLEANUP and _has_memory(data)):
            self._memory(data, from_cleanup=code == NOTE_CLEANUP)
        with run.lock:
            run.job.note(code, message, self._p.clock.now(), item_index=self._index, **dict(data))
            run.hold(time.monotonic())

    def _memory(self, data: Mapping[str, Any], *, from_cleanup: bool) -> None:
        """One report per item and memory kind: the runner's own figures of the item, or, when
        a timeout, kill or out-of-memory error cut them off, those taken at the cleanup."""
        kind = str(data.get("kind"))
        if from_cleanup and kind in self._memory_kinds:
            return
        self._memory_kinds.add(kind)
        self._p.metrics.memory(
            kind,
            int(data.get("start_bytes", 0)),
            int(data.get("peak_bytes", 0)),
            int(data.get("end_bytes", 0)),
        )


def _has_memory(data: Mapping[str, Any]) -> bool:
    return "kind" in data and all(k in data for k in ("start_bytes", "peak_bytes", "end_bytes"))
