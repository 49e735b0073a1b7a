"""Time and identifiers, in the one format every adapter stores."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 UTC with microseconds; fixed width, so strings sort as times do."""
    if ts is None:
        return None
    if ts.tzinfo is None:  # naive times are UTC here, as parse_iso reads them
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parses ISO 8601; a value without a zone is taken as UTC. Raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
        raise ValueError(f"{text!r} is out of range in UTC") from None


def new_id() -> str:
    """A 26-hex-digit id that sorts by creation time (48-bit ms clock + 56 random bits)."""
    ms = time.time_ns() // 1_000_000
    return f"{ms:012x}{int.from_bytes(os.urandom(7), 'big'):014x}"
