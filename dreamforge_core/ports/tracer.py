"""Trace hooks (NFR-022): spans around the work worth seeing in a trace (a job attempt, an
image, a download). Off unless the deployment plugs a tracer in."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol

Attribute = str | int | float | bool


class Tracer(Protocol):
    def span(
        self,
        name: str,
        remote_parent: Mapping[str, str] | None = None,
        **attributes: Attribute,
    ) -> AbstractContextManager[None]:
        """A span around the block, child of the current one or, given the headers of an
        incoming request (`traceparent`), of the caller's; an exception leaving the block
        marks it failed."""
        ...


class NoTracer:
    """Tracing off: a span costs one call."""

    def span(
        self,
        name: str,
        remote_parent: Mapping[str, str] | None = None,
        **attributes: Attribute,
    ) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


NO_TRACER: Tracer = NoTracer()
