"""The `.part` file of one download: bytes flushed as they arrive, hashed while they stream,
locked against a second writer, verified before the rename that makes them the target.

Partial files that no download will resume are removed (`remove_part_files`,
`remove_abandoned_parts`): a download that failed for good, or one abandoned for longer than
any attempt may run. One that a download holds locked is left alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from dreamforge_adapters.model_sources.remote_files import FetchError, IntegrityError, RemoteFile

if sys.platform != "win32":
    import fcntl

PART_SUFFIX = ".part"

log = logging.getLogger(__name__)


class Part:
    """The open `.part` file with its running sha256, so a retry never re-reads it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hasher = hashlib.sha256()
        self.size = 0
        self.resumed_from = 0
        self.fetched = 0
        self.reported_at = 0.0

    def load(self, chunk_bytes: int) -> None:
        """Hashes what an earlier run left; the file position ends up after it."""
        self.fh.seek(0)
        while block := self.fh.read(chunk_bytes):
            self.hasher.update(block)
            self.size += len(block)

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.hasher = hashlib.sha256()
        self.size = 0
        self.resumed_from = 0


def verify_part(file: RemoteFile, part: Part) -> None:
    details: dict[str, Any] = {"file": file.name}
    if file.size is not None and part.size != file.size:
        raise IntegrityError(
            f"{file.name}: received {part.size} bytes, expected {file.size}",
            details={**details, "expected_size": file.size, "actual_size": part.size},
        )
    digest = part.hasher.hexdigest()
    if file.sha256 is not None and digest != file.sha256:
        raise IntegrityError(
            f"{file.name}: sha256 mismatch, expected {file.sha256[:12]}…, got {digest[:12]}…",
            details={**details, "expected_sha256": file.sha256, "actual_sha256": digest},
        )


def lock_or_fail(fh: BinaryIO, name: str) -> None:
    """Two processes appending to one part file would interleave bytes; the second one stops."""
    if sys.platform == "win32":
        return  # no advisory locks: one downloader per folder is up to the caller
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FetchError(
            f"{name} is being downloaded by another process", details={"file": name}
        ) from None


def fsync_dir(path: Path) -> None:
    """Makes a rename durable; without it a power cut can undo the rename on some filesystems."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_part_files(folder: Path) -> list[Path]:
    """Removes the partial files under `folder`, but those being written; the removed ones."""
    return _remove_parts(folder, lambda path: True)


def remove_abandoned_parts(root: Path, older_than_s: float) -> list[Path]:
    """Removes the partial files under `root` untouched for `older_than_s` seconds, but those
    being written; the removed ones."""
    cutoff = time.time() - older_than_s
    return _remove_parts(root, lambda path: path.stat().st_mtime < cutoff)


def _remove_parts(root: Path, wanted: Callable[[Path], bool]) -> list[Path]:
    removed = []
    for path in sorted(root.rglob("*" + PART_SUFFIX)):
        try:
            if path.is_file() and not path.is_symlink() and wanted(path) and _unlink_idle(path):
                removed.append(path)
        except OSError as exc:  # best effort: the next cleanup tries again
            log.warning("could not remove the partial download %s: %s", path, exc)
    return removed


def _unlink_idle(path: Path) -> bool:
    """Unlinks `path` unless a download holds its lock (then False)."""
    with path.open("rb") as fh:
        if sys.platform != "win32":
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
        path.unlink()
    return True
