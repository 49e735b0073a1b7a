"""Reading model files on disk: streaming sha256, and what a model's files should be.

A model's `provenance["files"]` maps each file (relative to its folder) to the `sha256` and
`size` recorded when it was installed; `verify` and start-up validation compare against it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dreamforge_core.domain.model import ModelDescriptor

_READ_BYTES = 1 << 20
#: Formats that run code when loaded: never registered (NFR-103).
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def model_folder(model: ModelDescriptor) -> Path | None:
    """The folder its recorded files are relative to (a checkpoint's own folder)."""
    if not model.local_path:
        return None
    path = Path(model.local_path)
    return path.parent if path.suffix == ".safetensors" else path


def recorded_files(model: ModelDescriptor) -> dict[str, dict[str, Any]]:
    """name → {"sha256", "size"}; a bare sha256 string (older entries) has no size."""
    files = model.provenance.get("files")
    if not isinstance(files, dict):
        return {}
    return {
        name: (entry if isinstance(entry, dict) else {"sha256": str(entry)})
        for name, entry in files.items()
    }
