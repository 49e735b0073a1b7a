"""The Tracer port on OpenTelemetry: nesting, attributes, failures, sampling, remote parents."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dreamforge_adapters.otel import OtelTracer, build_tracer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED_PARENT = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}


def tracer(ratio: float) -> tuple[OtelTracer, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    return build_tracer("test", "console", ratio, processor=SimpleSpanProcessor(exported)), exported


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def test_spans_nest_and_carry_their_attributes() -> None:
    t, exported = tracer(1.0)
    with (
        t.span("dreamforge.job.attempt", job_id="j1", attempt=1),
        t.span("dreamforge.image.generate", item_index=0),
    ):
        pass
    spans = by_name(exported.get_finished_spans())
    job, image = spans["dreamforge.job.attempt"], spans["dreamforge.image.generate"]
    assert dict(job.attributes or {}) == {"job_id": "j1", "attempt": 1}
    assert image.parent is not None
    assert image.parent.span_id == job.context.span_id
    assert job.resource.attributes["service.name"] == "test"


def test_an_exception_marks_the_span_failed_and_still_propagates() -> None:
    t, exported = tracer(1.0)
    with pytest.raises(KeyboardInterrupt), t.span("dreamforge.job.attempt"):
        raise KeyboardInterrupt  # a BaseException, as a time limit is
    [span] = exported.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_sampling_keeps_no_root_at_ratio_zero_but_follows_a_sampled_caller() -> None:
    t, exported = tracer(0.0)
    with t.span("HTTP GET"):
        pass
    assert exported.get_finished_spans() == ()
    with t.span("HTTP POST", SAMPLED_PARENT):
        pass
    [span] = exported.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID


def test_the_ratio_keeps_about_that_share_of_traces() -> None:
    t, exported = tracer(0.25)
    for _ in range(2000):
        with t.span("HTTP GET"):
            pass
    kept = len(exported.get_finished_spans())
    assert 350 < kept < 650, kept
