from __future__ import annotations

import errno
import hashlib
import hmac
import os
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from dreamforge_core.errors import (
    Forbidden,
    NotFound,
    PermanentStorageError,
    StorageError,
    Unavailable,
)
from dreamforge_core.ports.blob_store import BlobStore, SignedUrl

_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
# Faults that stay until an operator acts (frees space, fixes modes, mounts read-write, puts the
# directory back): retrying would only generate the images again to be refused again.
PERMANENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR}
)


def _storage_error(message: str, error: OSError) -> StorageError:
    permanent = error.errno in PERMANENT_ERRNOS
    return (PermanentStorageError if permanent else StorageError)(message)


def _fsync_directory(path: Path) -> None:
    """Makes the entries of `path` (a rename into it, a new subdirectory) survive a crash."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_EXPIRES = re.compile(r"[0-9]{1,20}", re.ASCII)  # Unix seconds
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)  # hex of an HMAC-SHA256


class LocalBlobStore(BlobStore):
    """Keeps objects as files under `root`; a URL carries `expires` and an HMAC of key+expiry.

    Writes go to a temporary file that is renamed into place, so a reader never sees half an
    image and a crash leaves no partial object under its final key. The file is synced before
    the rename and its directory after it (with any directory made for it), so an object
    `put` returned for, and whose artifact row the caller then commits, survives power loss.
    """

    def __init__(self, root: Path, signing_key: bytes) -> None:
        self._root = root.resolve()
        self._key = signing_key
        self._root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or any(p in ("..", "") or p.startswith("/") for p in parts):
            raise NotFound(f"no object {key!r}")
        return self._root.joinpath(*parts)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            made = self._make_directories(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_directory(path.parent)
            for directory in made:
                _fsync_directory(directory.parent)
        except OSError as e:
            raise _storage_error(f"could not write {key}: {e.strerror or e}", e) from e

    @staticmethod
    def _make_directories(folder: Path) -> list[Path]:
        """Creates `folder` and its missing parents; returns those created, deepest first."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(exist_ok=True)
            except FileExistsError:  # a file stands where the directory must be
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(directory)) from None
        return missing

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no object {key!r}") from None
        except OSError as e:
            raise _storage_error(f"could not read {key}: {e.strerror or e}", e) from e

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def presign(self, key: str, ttl_s: int, base_url: str) -> SignedUrl:
        expires = int(time.time()) + ttl_s
        url = (
            f"{base_url.rstrip('/')}/blobs/{quote(key)}"
            f"?expires={expires}&signature={self._signature(key, expires)}"
        )
        return SignedUrl(url, datetime.fromtimestamp(expires, UTC))

    def read_signed(self, key: str, expires: str, signature: str) -> tuple[bytes, str]:
        # Only what presign writes can match; checking the form first keeps int() and
        # compare_digest (ASCII text only) from raising on whatever a client sends.
        if not (_EXPIRES.fullmatch(expires) and _SIGNATURE.fullmatch(signature)):
            raise Forbidden("the URL signature is invalid")
        if not hmac.compare_digest(self._signature(key, int(expires)), signature):
            raise Forbidden("the URL signature is invalid")
        if int(expires) < time.time():
            raise Forbidden("the URL has expired")
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no object {key!r}") from None
        return data, _TYPES.get(path.suffix, "application/octet-stream")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str) -> list[str]:
        base = self._root.joinpath(*PurePosixPath(prefix).parts) if prefix else self._root
        # a prefix may end mid-name (`…/generate/1`): walk its folder, match by string
        walk_root = base if base.is_dir() else base.parent
        if not walk_root.exists():
            return []
        keys = []
        for path in walk_root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self._root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def ping(self) -> None:
        if not os.access(self._root, os.W_OK):
            raise Unavailable(f"artifact directory {self._root} is not writable")


def load_or_create_signing_key(path: Path) -> bytes:
    """A per-installation secret, made once and kept beside the data (mode 0600)."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret
