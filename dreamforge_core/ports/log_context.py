from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class LogContext(Protocol):
    def bound(self, **fields: str) -> AbstractContextManager[None]:
        """Adds `fields` to every process log line written by this thread or task until the
        block ends, so lines can be correlated without passing ids into every call."""
        ...
