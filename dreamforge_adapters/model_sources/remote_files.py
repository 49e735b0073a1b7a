"""What a fetch works on: a remote file as a source resolved it, where it may land, and the
errors a fetch raises (messages name files, never tokens)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dreamforge_core.errors import DreamForgeError

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")


class FetchError(DreamForgeError):
    """Raised when a file cannot be downloaded; the message names the file, never a token."""

    code = "download_failed"


class IntegrityError(FetchError):
    """Raised when the bytes received do not have the expected size or sha256."""

    code = "integrity"


class AccessDenied(FetchError):
    """Raised on 401/403: the source wants a token, or a different one."""

    code = "unauthorized"


class RemoteNotFound(FetchError):
    """Raised on 404: the repository, revision or file does not exist (or is hidden)."""

    code = "not_found"


class RefusedAddress(FetchError):
    """Raised when a URL or redirect leads to an address the source may not reach."""

    code = "forbidden"


class UnsafePath(FetchError):
    """Raised when a file name would land outside the model folder or cannot be stored."""

    code = "invalid_input"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file to fetch, as a source adapter resolved it."""

    url: str
    name: str  # path relative to the model folder, "/"-separated, e.g. "unet/config.json"
    size: int | None = None  # bytes, when the source states it
    sha256: str | None = None  # lower-case hex, when the source states it
    # e.g. Authorization: kept out of repr, equality and hashing so it cannot leak into logs.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    max_size: int | None = None  # without an exact size: more bytes than this are refused

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256_HEX.fullmatch(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lower-case hex digits")
        if (self.size is not None and self.size < 0) or (
            self.max_size is not None and self.max_size < 0
        ):
            raise ValueError(f"{self.name}: size must not be negative")


def safe_target(folder: Path, name: str) -> Path:
    """`folder/name`, or UnsafePath when `name` could point anywhere else.

    Names come from remote listings, so they are untrusted: only plain "/"-separated relative
    paths pass, and the result must still be inside `folder` once symlinks are resolved.
    """
    problem = _name_problem(name)
    if problem is None:
        target = folder.joinpath(*name.split("/"))
        try:
            root = folder.resolve()
            resolved = target.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            problem = "cannot be resolved"
        else:
            if resolved == root or not resolved.is_relative_to(root):
                problem = "leads outside the model folder"
            else:
                return target
    raise UnsafePath(f"unsafe file name {name!r}: {problem}", details={"file": name})


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty"
    if "\0" in name:
        return "contains NUL"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is absolute"
    segments = name.split("/")
    if _DRIVE.match(segments[0]):
        return "starts with a drive letter"
    if "" in segments:
        return "has an empty segment"
    if "." in segments or ".." in segments:
        return "has a '.' or '..' segment"
    return None
