"""Trace hooks (NFR-022): an attempt, each image's generation and store are spans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from dreamforge_core.errors import ProviderError
from dreamforge_core.ports.tracer import Attribute

from .conftest import build_harness


class RecordingTracer:
    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, Attribute], str]] = []  # name, attrs, outcome

    def span(
        self,
        name: str,
        remote_parent: Mapping[str, str] | None = None,
        **attributes: Attribute,
    ) -> AbstractContextManager[None]:
        return self._span(name, attributes)

    @contextmanager
    def _span(self, name: str, attributes: dict[str, Attribute]) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.spans.append((name, attributes, "error"))
            raise
        self.spans.append((name, attributes, "ok"))


def test_an_attempt_and_each_image_are_spans() -> None:
    tracer = RecordingTracer()
    h = build_harness(tracer=tracer)
    job_id = h.create(count=2).job.id
    h.queue.run_due()
    names = [(name, outcome) for name, _, outcome in tracer.spans]
    assert sorted(names) == sorted(
        [("dreamforge.image.generate", "ok")] * 2
        + [("dreamforge.image.store", "ok")] * 2
        + [("dreamforge.job.attempt", "ok")]
    )
    attempt = next(a for n, a, _ in tracer.spans if n == "dreamforge.job.attempt")
    assert attempt == {"job_id": job_id, "job_type": "generate", "attempt": 1}


def test_a_failed_attempt_ends_its_span_as_failed() -> None:
    tracer = RecordingTracer()
    h = build_harness(tracer=tracer)
    h.runner.fail_on(0, ProviderError("gpu fell off"), times=1)
    h.create()
    h.settle()
    attempts = [outcome for name, _, outcome in tracer.spans if name == "dreamforge.job.attempt"]
    assert attempts == ["error", "ok"]
