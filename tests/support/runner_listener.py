"""A RunnerListener for runner tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RecordingListener:
    """A RunnerListener that remembers the steps and the notes (code, data) it was told."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int]] = []
        self.notes: list[str] = []
        self.previews: list[tuple[int, int, bytes]] = []
        self.note_data: list[Mapping[str, Any]] = []

    def step(self, done: int, total: int) -> None:
        self.steps.append((done, total))

    def preview(self, step: int, total: int, jpeg: bytes) -> None:
        self.previews.append((step, total, jpeg))

    def note(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        self.notes.append(code)
        self.note_data.append(dict(data))
