"""Registering a checkpoint already on disk (`dreamforge model import PATH`), as users of other
UIs have them: the file stays where it is, hashed once and recorded with its sha256.

A single `.safetensors` file becomes an `sdxl-checkpoint`, or an `sdxl-lora` when its tensors
are LoRA tensors (its base: the one given, else SDXL when its shapes are SDXL's); a diffusers
folder (with `model_index.json`) an `sdxl-diffusers` model whose every file is recorded.
Pickle formats are refused: loading them runs code.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from dreamforge_core.domain.model import ModelDescriptor, id_slug
from dreamforge_core.errors import FieldError, InvalidInput
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.use_cases.lora_files import NotALora, describe_lora, is_lora, read_header
from dreamforge_core.use_cases.model_files import PICKLE_SUFFIXES, sha256_of

_UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


def model_id_for(name: str) -> str:
    slug = id_slug(name)
    if not slug:
        raise InvalidInput.for_fields([FieldError("name", f"{name!r} gives an empty model id")])
    return slug


def _refuse(path: Path, why: str) -> InvalidInput:
    return InvalidInput.for_fields([FieldError("path", f"{path}: {why}")])


class ImportModel:
    def __init__(self, registry: ModelRegistry, clock: Clock) -> None:
        self._registry = registry
        self._clock = clock

    def __call__(
        self, path: Path, *, name: str | None = None, base: str | None = None
    ) -> ModelDescriptor:
        path = path.expanduser().resolve()
        if not path.exists():
            raise _refuse(path, "does not exist")
        if path.is_dir():
            kind, files, weights = self._folder(path)
        elif path.suffix.lower() in PICKLE_SUFFIXES:
            raise _refuse(path, "pickle checkpoint refused (it can run code); use .safetensors")
        elif path.suffix.lower() != ".safetensors":
            raise _refuse(path, "expected a .safetensors file or a diffusers folder")
        else:
            kind, weights = "sdxl-checkpoint", path.name
            files = {path.name: _record(path)}
        now = self._clock.now()
        model_id = model_id_for(name or path.stem)
        model = ModelDescriptor(
            id=model_id,
            name=name or path.stem,
            kind=kind,
            version=(files[weights]["sha256"][:10] if weights else "local"),
            created_at=now,
            updated_at=now,
            checkpoint_hash=files[weights]["sha256"] if weights else None,
            source_uri=path.as_uri(),
            local_path=str(path),
            installed=True,
            enabled=True,
            capabilities=["generate"],
            provenance={"source": "local", "path": str(path), "files": files},
        )
        if kind == "sdxl-checkpoint":
            model = self._maybe_lora(model, path, base)
        elif base is not None:
            raise _refuse(path, "--base is for LoRA files only")
        earlier = self._registry.get(model_id)
        if earlier is not None:
            model = replace(model, enabled=earlier.enabled, created_at=earlier.created_at)
        self._registry.upsert(model)
        return model

    @staticmethod
    def _maybe_lora(model: ModelDescriptor, path: Path, base: str | None) -> ModelDescriptor:
        try:
            header = read_header(path)
        except NotALora:
            header = {}  # loading will tell; a checkpoint was always taken as it came
        if not is_lora(header):
            if base is not None:
                raise _refuse(path, "--base is for LoRA files only; this is a checkpoint")
            return model
        try:
            return describe_lora(model, path, base)
        except NotALora as e:
            raise _refuse(path, f"{e} with --base (e.g. --base sdxl)") from None

    def _folder(self, path: Path) -> tuple[str, dict[str, dict[str, Any]], str | None]:
        if not (path / "model_index.json").is_file():
            raise _refuse(path, "a folder must be a diffusers pipeline (model_index.json)")
        pickles = [p for p in path.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles and not any(path.rglob("*.safetensors")):
            raise _refuse(path, "only pickle weights found (they can run code); use safetensors")
        files = {
            p.relative_to(path).as_posix(): _record(p)
            for p in sorted(path.rglob("*"))
            if p.is_file() and p.suffix.lower() not in PICKLE_SUFFIXES
        }
        return "sdxl-diffusers", files, (_UNET_WEIGHTS if _UNET_WEIGHTS in files else None)


def _record(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_of(path), "size": path.stat().st_size}
