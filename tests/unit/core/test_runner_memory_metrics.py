"""Runner memory reaches the metrics on every path (OR-001): the runner's own figures of an
item (`memory` notes), and on a timeout, kill or out-of-memory error the figures that the
runner took when it killed its process (`runner_cleanup` notes that carry them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dreamforge_adapters.system import NoMetrics
from dreamforge_core.errors import DreamForgeError, OutOfMemory, StepTimeout
from dreamforge_core.ports.runner import (
    NOTE_CLEANUP,
    NOTE_MEMORY,
    GeneratedImage,
    GenerationRequest,
    RunnerListener,
)

from .conftest import HarnessFactory, StubRunner


class RecordingMetrics(NoMetrics):
    def __init__(self) -> None:
        self.memory_reports: list[tuple[str, int, int, int]] = []

    def memory(self, kind: str, start_bytes: int, peak_bytes: int, end_bytes: int) -> None:
        self.memory_reports.append((kind, start_bytes, peak_bytes, end_bytes))


def figures(kind: str, start: int, peak: int, end: int) -> dict[str, Any]:
    return {"kind": kind, "start_bytes": start, "peak_bytes": peak, "end_bytes": end}


def killed(start: int, peak: int) -> dict[str, Any]:
    """What the SDXL runner notes when it kills its process: RSS before the kill, peak RSS."""
    return {
        "reason": "timeout: the runner did not finish in time",
        "action": "killed the runner process",
        "pid": 4242,
        **figures("process", start, peak, 0),
        "rss_before_kill_bytes": start,
    }


class NotingRunner(StubRunner):
    """Notes what `script` says on the first item, then raises `failure` there."""

    def __init__(
        self, script: Callable[[RunnerListener], None], failure: DreamForgeError | None
    ) -> None:
        super().__init__()
        self._script = script
        self._failure = failure

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        if request.item_index == 0 and len(self.calls) == 0:
            self.calls.append(request)
            self._script(listener)
            if self._failure is not None:
                raise self._failure
        return super().generate(request, listener)


def run(
    make_harness: HarnessFactory,
    script: Callable[[RunnerListener], None],
    failure: DreamForgeError | None,
) -> list[tuple[str, int, int, int]]:
    metrics = RecordingMetrics()
    harness = make_harness(runner=NotingRunner(script, failure), metrics=metrics)
    harness.create(count=1)
    harness.queue.run_due()
    return metrics.memory_reports


def test_a_timeout_that_kills_the_runner_reports_its_memory(
    make_harness: HarnessFactory,
) -> None:
    def script(listener: RunnerListener) -> None:
        listener.note(NOTE_CLEANUP, "runner process 4242 killed", killed(900, 1200))

    reports = run(make_harness, script, StepTimeout("the runner did not finish in time"))
    assert reports == [("process", 900, 1200, 0)]


def test_an_out_of_memory_error_reports_the_item_and_the_killed_process_once_per_kind(
    make_harness: HarnessFactory,
) -> None:
    def script(listener: RunnerListener) -> None:
        listener.note(NOTE_MEMORY, "GPU memory", figures("cuda", 10, 80, 12))
        listener.note(NOTE_CLEANUP, "runner process 4242 killed", killed(900, 1200))

    reports = run(make_harness, script, OutOfMemory("out of memory"))
    assert reports == [("cuda", 10, 80, 12), ("process", 900, 1200, 0)]


def test_the_runners_own_figures_of_an_item_are_not_counted_twice(
    make_harness: HarnessFactory,
) -> None:
    """Without CUDA both notes are of process memory: the item's own figures stand."""

    def script(listener: RunnerListener) -> None:
        listener.note(NOTE_MEMORY, "process memory", figures("process", 500, 800, 700))
        listener.note(NOTE_CLEANUP, "runner process 4242 killed", killed(900, 1200))

    reports = run(make_harness, script, OutOfMemory("out of memory"))
    assert reports == [("process", 500, 800, 700)]


def test_a_cleanup_without_figures_reports_nothing(make_harness: HarnessFactory) -> None:
    def script(listener: RunnerListener) -> None:
        listener.note(
            NOTE_CLEANUP,
            "the runner process died; a fresh one will start",
            {"reason": "died", "action": "replaced the runner process", "exit_code": -9},
        )

    assert run(make_harness, script, StepTimeout("x")) == []
