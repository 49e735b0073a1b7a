from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dreamforge_core.ports.log_context import LogContext


class RecordingLogContext(LogContext):
    """Keeps the fields bound now, so tests can ask what a log line written there would carry."""

    def __init__(self) -> None:
        self.current: dict[str, str] = {}

    @contextmanager
    def bound(self, **fields: str) -> Iterator[None]:
        before = self.current
        self.current = {**before, **fields}
        try:
            yield
        finally:
            self.current = before
