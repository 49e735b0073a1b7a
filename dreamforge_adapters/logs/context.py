from __future__ import annotations

from contextlib import AbstractContextManager

from structlog.contextvars import bound_contextvars

from dreamforge_core.ports.log_context import LogContext


class StructlogContext(LogContext):
    """Fields live in context variables: they follow the thread or asyncio task that bound
    them, and every line formatted through structlog's ProcessorFormatter merges them."""

    def bound(self, **fields: str) -> AbstractContextManager[None]:
        return bound_contextvars(**fields)
