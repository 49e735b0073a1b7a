"""Installing a model from a source (FR-090..094): resolve, fetch, verify, register.

The folder is `<models_root>/<kind>/<name>@<version>/`, holding the files and a descriptor
file (`dreamforge-model.json`); the registry gets the absolute path. Nothing is registered
unless every file verified; a failure leaves verified files and resumable partial files in
place, so the same command again continues where it stopped and fetches nothing twice.
A re-install keeps the entry's `enabled` flag and creation time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import ModelRef, parse_model_ref
from dreamforge_core.errors import FieldError, InvalidInput
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.model_source import (
    DownloadProgress,
    FetchedFile,
    ModelSource,
    ResolvedModel,
)

DESCRIPTOR_FILE = "dreamforge-model.json"


@dataclass(frozen=True, slots=True)
class InstallResult:
    model: ModelDescriptor
    resolved: ResolvedModel
    files: list[FetchedFile]
    seconds: float

    @property
    def fetched_bytes(self) -> int:
        return sum(f.fetched_bytes for f in self.files)


class InstallModel:
    def __init__(
        self,
        sources: Mapping[str, ModelSource],
        registry: ModelRegistry,
        clock: Clock,
        models_root: Path,
    ) -> None:
        self._sources = sources
        self._registry = registry
        self._clock = clock
        self._root = models_root

    def source_for(self, ref: ModelRef) -> ModelSource:
        source = self._sources.get(ref.source)
        if source is None:
            known = ", ".join(sorted(self._sources)) or "none"
            raise InvalidInput.for_fields(
                [FieldError("ref", f"no source for {ref.source!r} (installed: {known})")]
            )
        return source

    def __call__(
        self,
        ref: str | ModelRef,
        *,
        progress: DownloadProgress | None = None,
        folder: Path | None = None,
        register: bool = True,
        on_resolved: Callable[[ResolvedModel], None] | None = None,
    ) -> InstallResult:
        """`folder` overrides the layout (the SDXL base config has its own place);
        `register=False` installs files without a registry entry (configs); `on_resolved`
        hears of the pinned file list before any byte is fetched."""
        began = time.monotonic()
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        source = self.source_for(parsed)
        resolved = source.resolve(parsed)
        if on_resolved is not None:
            on_resolved(resolved)
        target = folder or self._root / resolved.kind / f"{resolved.name}@{resolved.version}"
        target.mkdir(parents=True, exist_ok=True)
        files = source.fetch(resolved, target, progress)
        checksums = source.verify(resolved, files)
        model = source.to_model_descriptor(resolved, target, checksums, self._clock.now())
        if resolved.checkpoint_file and resolved.kind == "sdxl-checkpoint":
            # The runner loads a single-file checkpoint by its file, not its folder.
            model = replace(model, local_path=str((target / resolved.checkpoint_file).resolve()))
        if register:
            earlier = self._registry.get(model.id)
            if earlier is not None:
                model = replace(model, enabled=earlier.enabled, created_at=earlier.created_at)
            self._registry.upsert(model)
        (target / DESCRIPTOR_FILE).write_text(
            json.dumps(model.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
        return InstallResult(model, resolved, files, time.monotonic() - began)
