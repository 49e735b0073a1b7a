"""Checking installed models against what was recorded when they were installed (FR-096).

`deep` re-hashes every recorded file (`dreamforge model verify`); without it only presence,
sizes and that hashes were recorded are checked, which is what the services do at start-up:
cheap enough for multi-GB checkpoints, and enough to catch a deleted or truncated file. A
model that fails is marked not installed (jobs on it are refused with a clear error); one that
passes again is marked installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import NotFound
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.use_cases.model_files import model_folder, recorded_files, sha256_of


@dataclass(frozen=True, slots=True)
class ModelCheck:
    model_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    changed: bool = False  # the registry's `installed` flag was updated


class VerifyModels:
    def __init__(
        self,
        registry: ModelRegistry,
        clock: Clock,
        *,
        hash_file: Callable[[Path], str] = sha256_of,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._hash = hash_file

    def __call__(self, model_id: str | None = None, *, deep: bool = True) -> list[ModelCheck]:
        if model_id is not None:
            model = self._registry.get(model_id)
            if model is None:
                raise NotFound(f"no model with id {model_id!r}")
            models = [model]
        else:
            models = self._registry.list(include_disabled=True)
        return [self._check(m, deep) for m in models if m.local_path]

    def _check(self, model: ModelDescriptor, deep: bool) -> ModelCheck:
        problems = self._problems(model, deep)
        ok = not problems
        changed = ok != model.installed
        if changed:
            self._registry.upsert(replace(model, installed=ok, updated_at=self._clock.now()))
        return ModelCheck(model.id, ok, problems, changed)

    def _problems(self, model: ModelDescriptor, deep: bool) -> list[str]:
        path = Path(model.local_path or "")
        if not path.exists():
            return [f"{path} is missing"]
        folder = model_folder(model)
        files = recorded_files(model)
        if not files:  # registered before per-file hashes were recorded: check the weights
            if model.checkpoint_hash is None:
                return ["no sha256 recorded: import or download it again"]
            weights = deep and path.is_file()
            if weights and self._hash(path) != model.checkpoint_hash:
                return [f"{path.name}: sha256 differs from the recorded checkpoint hash"]
            return []
        problems = []
        for name, expected in sorted(files.items()):
            file = (folder or path) / name
            if not file.is_file():
                problems.append(f"{name} is missing")
            elif expected.get("size") is not None and file.stat().st_size != expected["size"]:
                problems.append(f"{name}: {file.stat().st_size} bytes, {expected['size']} recorded")
            elif deep and expected.get("sha256") and self._hash(file) != expected["sha256"]:
                problems.append(f"{name}: sha256 differs from the recorded one")
        return problems
