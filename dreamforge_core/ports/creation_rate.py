from __future__ import annotations

from typing import Protocol


class CreationRate(Protocol):
    """Counts job creations per caller in windows of one minute, shared by every API process
    of a deployment."""

    def take(self, caller: str, per_minute: int, now_s: float) -> float | None:
        """Counts one creation by `caller` (a key fingerprint) at `now_s` (seconds since the
        epoch). None when it fits the limit; else the seconds until the caller's window ends,
        and the creation does not count."""
        ...
