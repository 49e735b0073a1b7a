"""Artifacts: stored images, one per finished batch item, and the object key layout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dreamforge_core.domain.clock import iso

DEFAULT_USER = "default"
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def artifact_key(
    *,
    user: str,
    job_id: str,
    step: str,
    ts: datetime,
    item_index: int,
    width: int,
    height: int,
    seed: int,
    ext: str,
) -> str:
    """FR-020/FR-024: `dreamforge/{user}/jobs/{job_id}/{step}/{ts}_{index}_{w}x{h}_{seed}.{ext}`."""
    stamp = ts.strftime("%Y%m%dT%H%M%S%fZ")
    return (
        f"dreamforge/{user}/jobs/{job_id}/{step}/{stamp}_{item_index}_{width}x{height}_{seed}.{ext}"
    )


def job_prefix(user: str, job_id: str) -> str:
    return f"dreamforge/{user}/jobs/{job_id}/"


@dataclass(frozen=True, slots=True)
class Artifact:
    id: str
    job_id: str
    step: str
    item_index: int
    key: str
    content_type: str
    format: str
    width: int
    height: int
    seed: int
    size_bytes: int
    sha256: str
    created_at: datetime
    checkpoint_hash: str | None = None  # sha256 of the weights that made it (NFR-060)

    def to_dict(self) -> dict[str, Any]:
        """Every field but the job's id, which the reader knows already."""
        shown = {name: getattr(self, name) for name in _SHOWN_FIELDS}
        return {**shown, "created_at": iso(self.created_at)}


_SHOWN_FIELDS = tuple(f for f in Artifact.__dataclass_fields__ if f not in ("job_id", "created_at"))
