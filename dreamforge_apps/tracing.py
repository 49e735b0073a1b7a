"""Tracing of a process: off (the default), or OpenTelemetry when `DREAMFORGE_TRACING` asks and
the `tracing` extra is installed."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from dreamforge_apps.settings import Settings
from dreamforge_core.ports.tracer import NO_TRACER, Tracer


class TracingUnavailable(Exception):
    """Raised when tracing is asked for but its packages are not installed."""


class Tracing(NamedTuple):
    tracer: Tracer
    close: Callable[[], None]  # flushes the spans not yet exported


def open_tracing(settings: Settings, service: str) -> Tracing:
    """`service`: `serve`, `api` or `worker`; `OTEL_SERVICE_NAME` overrides the name."""
    if settings.tracing == "off":
        return Tracing(NO_TRACER, lambda: None)
    try:
        from dreamforge_adapters.otel import build_tracer
    except ImportError as e:
        raise TracingUnavailable(
            f"DREAMFORGE_TRACING={settings.tracing} needs the tracing extra: "
            "pip install 'dreamforge[tracing]'"
        ) from e
    name = os.environ.get("OTEL_SERVICE_NAME") or f"dreamforge-{service}"
    tracer = build_tracer(name, settings.tracing, settings.trace_sample_ratio)
    return Tracing(tracer, tracer.close)
