"""Installing a model from a source (FR-090..094): resolve, check, fetch, verify, register.

The folder is `<models_root>/<kind>/<name>@<version>/`, holding the files and a descriptor
file (`dreamforge-model.json`); the registry gets the absolute path. Nothing is registered
unless every file verified; a failure leaves verified files and resumable partial files in
place, so the same command again continues where it stopped and fetches nothing twice.
A re-install keeps the entry's `enabled` flag and creation time.

Before any byte is fetched (`install_rules`, `disk_budget`): a file named like the descriptor
is refused, so is another version of an installed model unless `replace` is given, and so is
a download that does not fit the disk budget. The replacement check runs again just before
the registry is written, for a second install that finished in between.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, replace
from pathlib import Path

from dreamforge_core.domain.loras import KIND_LORA
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import ModelRef, parse_model_ref
from dreamforge_core.errors import FieldError, InvalidInput
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.disk_space import DiskSpace
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.model_source import (
    DownloadProgress,
    FetchedFile,
    ModelSource,
    ResolvedModel,
)
from dreamforge_core.use_cases.disk_budget import DiskBudget
from dreamforge_core.use_cases.install_rules import (
    DESCRIPTOR_FILE,
    refuse_installer_names,
    refuse_replacement,
)
from dreamforge_core.use_cases.lora_files import NotALora, describe_lora

__all__ = ["DESCRIPTOR_FILE", "InstallModel", "InstallResult", "model_folder"]


def model_folder(models_root: Path, model: ResolvedModel) -> Path:
    """Where a resolved model is installed: one folder per kind, name and version."""
    return models_root / model.kind / f"{model.name}@{model.version}"


@dataclass(frozen=True, slots=True)
class InstallResult:
    model: ModelDescriptor
    resolved: ResolvedModel
    files: list[FetchedFile]
    seconds: float
    replaced: ModelDescriptor | None = None  # the entry a `replace` install took the id of

    @property
    def fetched_bytes(self) -> int:
        return sum(f.fetched_bytes for f in self.files)


@dataclass(frozen=True, slots=True)
class InstallModel:
    sources: Mapping[str, ModelSource]
    registry: ModelRegistry
    clock: Clock
    models_root: Path
    _: KW_ONLY
    budget: DiskBudget | None = None

    def source_for(self, ref: ModelRef) -> ModelSource:
        source = self.sources.get(ref.source)
        if source is None:
            known = ", ".join(sorted(self.sources)) or "none"
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
        replace_installed: bool = False,
    ) -> InstallResult:
        """`folder` overrides the layout (the SDXL base config has its own place);
        `register=False` installs files without a registry entry (configs); `on_resolved`
        hears of the pinned file list before any byte is fetched; `replace_installed` lets
        another version take the id of an installed model."""
        began = time.monotonic()
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        source = self.source_for(parsed)
        resolved = source.resolve(parsed)
        if on_resolved is not None:
            on_resolved(resolved)
        refuse_installer_names(resolved)
        model_id = _early_model_id(source, resolved)
        if register and not replace_installed and model_id is not None:
            refuse_replacement(self.registry.get(model_id), resolved, model_id)
        target = folder or model_folder(self.models_root, resolved)
        if self.budget is not None:
            needed = _bytes_to_fetch(self.budget.space, resolved, target)
            self.budget.require(self.models_root, needed, str(parsed))
        target.mkdir(parents=True, exist_ok=True)
        files = source.fetch(resolved, target, progress)
        checksums = source.verify(resolved, files)
        model = source.to_model_descriptor(resolved, target, checksums, self.clock.now())
        if resolved.checkpoint_file and resolved.kind in ("sdxl-checkpoint", KIND_LORA):
            # The runner loads a single-file checkpoint (or LoRA) by its file, not its folder.
            model = replace(model, local_path=str((target / resolved.checkpoint_file).resolve()))
        if resolved.kind == KIND_LORA:
            model = _as_lora(model, parsed)
        earlier = None
        if register:
            earlier = self.registry.get(model.id)
            if not replace_installed:
                refuse_replacement(earlier, resolved, model.id)
            if earlier is not None:
                model = replace(model, enabled=earlier.enabled, created_at=earlier.created_at)
            self.registry.upsert(model)
        (target / DESCRIPTOR_FILE).write_text(
            json.dumps(model.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
        replaced = earlier if earlier is not None and _other_version(earlier, model) else None
        return InstallResult(model, resolved, files, time.monotonic() - began, replaced)


def _as_lora(model: ModelDescriptor, ref: ModelRef) -> ModelDescriptor:
    """A downloaded LoRA, checked by its tensors and described with its hash and base."""
    try:
        return describe_lora(model, Path(str(model.local_path)))
    except NotALora as e:
        raise InvalidInput.for_fields([FieldError("ref", f"{ref}: {e}")]) from None


def _early_model_id(source: ModelSource, model: ResolvedModel) -> str | None:
    """The id before any byte is fetched. A plug-in source written before `model_id` joined
    the port has none: its replacement is then refused just before the registry is written."""
    name_it = getattr(source, "model_id", None)
    return str(name_it(model)) if callable(name_it) else None


def _bytes_to_fetch(space: DiskSpace, model: ResolvedModel, target: Path) -> int:
    """The bytes still to come: stated sizes (rough ones too) less what the folder holds."""
    held = space.held(target, [f.name for f in model.files])
    sizes = {f.name: f.size if f.size is not None else f.approx_size for f in model.files}
    return sum(max(0, size - held.get(name, 0)) for name, size in sizes.items() if size)


def _other_version(earlier: ModelDescriptor, model: ModelDescriptor) -> bool:
    return (earlier.source_uri, earlier.checkpoint_hash, earlier.local_path) != (
        model.source_uri,
        model.checkpoint_hash,
        model.local_path,
    )
