from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol


class DeadLetterEntry(Protocol):
    """One job parked in a dead-letter queue, and why."""

    @property
    def job_id(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def at(self) -> datetime: ...


class DeadLetterQueue(Protocol):
    """The parked jobs of one queue, for an operator to list and send back.

    Rules every implementation keeps: `dead_letters` lists each parked job once, oldest
    first; `requeue_dead_letters` enqueues before it forgets an entry, so a crash repeats a
    message rather than losing one, and returns how many jobs it sent back.
    """

    def dead_letters(self) -> Sequence[DeadLetterEntry]: ...

    def requeue_dead_letters(self, job_ids: Iterable[str] | None = None) -> int: ...
