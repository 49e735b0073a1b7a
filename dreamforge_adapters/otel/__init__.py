"""OpenTelemetry tracing (optional extra `tracing`): the core's Tracer port on the OTel SDK."""

from dreamforge_adapters.otel.tracer import OtelTracer, build_tracer

__all__ = ["OtelTracer", "build_tracer"]
