"""Events: the job's history. Each has a per-job sequence number, which is the SSE id."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from dreamforge_core.domain.clock import iso


class EventKind(StrEnum):
    """The SSE event names of the HTTP contract (docs/api.md)."""

    STATE = "state"
    PROGRESS = "progress"
    LOG = "log"
    ARTIFACT = "artifact"
    END = "end"


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event recorded by the domain and not yet stored (it has no sequence number)."""

    kind: EventKind
    code: str
    message: str
    ts: datetime
    level: str = "info"
    step_id: str | None = None
    item_index: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(EventDraft):
    """A stored event: its draft, with its job and its place in the job's sequence."""

    job_id: str
    seq: int

    @classmethod
    def stored(cls, job_id: str, seq: int, draft: EventDraft) -> Event:
        drafted = {f.name: getattr(draft, f.name) for f in fields(EventDraft)}
        return cls(job_id=job_id, seq=seq, **drafted)

    def to_dict(self) -> dict[str, Any]:
        """The NDJSON log line and SSE `data:` payload: fixed fields, then the event's data."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "ts": iso(self.ts),
            "level": self.level,
            "event": self.kind.value,
            "code": self.code,
            "message": self.message,
            "job_id": self.job_id,
            "step_id": self.step_id,
            "item_index": self.item_index,
        }
        for key, value in self.data.items():
            out.setdefault(key, value)
        return out

    @property
    def is_end(self) -> bool:
        return self.kind is EventKind.END


@dataclass(frozen=True, slots=True)
class LivePreview:
    """A picture of an item while it forms (`params.preview_every`): live only, never stored,
    so it has no sequence number and a resumed stream never sees it again."""

    job_id: str
    item_index: int
    step: int
    total: int
    image: str  # data:image/jpeg;base64,…

    def to_dict(self) -> dict[str, Any]:
        """The SSE `preview` event's data."""
        return asdict(self)
