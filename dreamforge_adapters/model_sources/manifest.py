"""`.dreamforge-files.json`: what a model folder holds already verified, so a second run skips
multi-gigabyte files by `stat` alone instead of hashing them again."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

MANIFEST_NAME = ".dreamforge-files.json"
# One lock for every manifest in the process: fetch_all's threads update the same file.
_manifest_lock = threading.Lock()


class ManifestEntry(NamedTuple):
    size: int
    sha256: str
    mtime_ns: int


def read_manifest(folder: Path) -> dict[str, ManifestEntry]:
    """The verified files by name; unreadable entries are ignored (they cost a re-check only)."""
    try:
        raw = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries: dict[str, ManifestEntry] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            if (
                isinstance(value, dict)
                and isinstance(value.get("size"), int)
                and isinstance(value.get("mtime_ns"), int)
                and isinstance(value.get("sha256"), str)
            ):
                entries[name] = ManifestEntry(value["size"], value["sha256"], value["mtime_ns"])
    return entries


def record_verified(folder: Path, name: str, entry: ManifestEntry) -> None:
    """Adds one entry; a reader sees the old manifest or the new one, never half of one.

    The lock covers this process only: two processes finishing at once may lose an entry,
    which costs the next run one local hash of that file.
    """
    with _manifest_lock:
        manifest = {n: e._asdict() for n, e in read_manifest(folder).items()}
        manifest[name] = entry._asdict()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=MANIFEST_NAME + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / MANIFEST_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
