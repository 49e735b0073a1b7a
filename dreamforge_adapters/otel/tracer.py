"""The Tracer port on the OpenTelemetry SDK, with a conservative sampler.

Sampling is parent-based with a trace-id ratio (default 1%): a trace is kept or dropped as a
whole, and a request that arrives with a sampled `traceparent` keeps its spans here too. The
exporter is OTLP over HTTP (`OTEL_EXPORTER_OTLP_ENDPOINT`, the standard variables) or the
console, for a look without a collector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dreamforge_core.ports.tracer import Attribute

_PROPAGATOR = TraceContextTextMapPropagator()


class OtelTracer:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("dreamforge")

    def span(
        self,
        name: str,
        remote_parent: Mapping[str, str] | None = None,
        **attributes: Attribute,
    ) -> AbstractContextManager[None]:
        return self._span(name, remote_parent, attributes)

    @contextmanager
    def _span(
        self,
        name: str,
        remote_parent: Mapping[str, str] | None,
        attributes: dict[str, Attribute],
    ) -> Iterator[None]:
        parent = None if remote_parent is None else _PROPAGATOR.extract(dict(remote_parent))
        # record_exception and the error status are set here rather than by the SDK's own
        # handling, so a BaseException (a time limit) ends the span as failed too
        with self._tracer.start_as_current_span(
            name,
            context=parent,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as e:
                span.record_exception(e)
                span.set_status(Status(StatusCode.ERROR, type(e).__name__))
                raise

    def close(self) -> None:
        self.provider.shutdown()  # flushes what the batch processor holds


def build_tracer(
    service: str,
    exporter: str,
    sample_ratio: float,
    *,
    processor: SpanProcessor | None = None,
) -> OtelTracer:
    """`exporter`: `otlp` or `console`; `processor` replaces the exporter (tests)."""
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(processor or BatchSpanProcessor(_exporter(exporter)))
    return OtelTracer(provider)


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
