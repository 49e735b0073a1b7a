from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import ModelRef


class ModelSource(Protocol):
    """One place models come from (Hugging Face, CivitAI, …), used by the downloader CLI."""

    scheme: str

    def resolve(self, ref: ModelRef) -> dict[str, Any]:
        """Source-specific descriptor: concrete revision/version, files, expected hashes."""
        ...

    def fetch(self, descriptor: dict[str, Any], dest: Path) -> list[Path]: ...

    def verify(self, descriptor: dict[str, Any], files: list[Path]) -> dict[str, str]:
        """sha256 per file; raises when one differs from what the source published."""
        ...

    def to_model_descriptor(
        self, descriptor: dict[str, Any], files: list[Path], checksums: dict[str, str]
    ) -> ModelDescriptor: ...
