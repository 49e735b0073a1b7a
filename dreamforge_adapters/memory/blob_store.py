from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from dreamforge_core.errors import NotFound, StorageError
from dreamforge_core.ports.blob_store import BlobStore, SignedUrl


class MemoryBlobStore(BlobStore):
    """Blobs in a dict; `fail_next_puts` makes the next puts fail like an unreachable store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.fail_next_puts = 0

    def put(self, key: str, data: bytes, content_type: str) -> None:
        with self._lock:
            if self.fail_next_puts > 0:
                self.fail_next_puts -= 1
                raise StorageError(f"storage unavailable while writing {key}")
            self.blobs[key] = (bytes(data), content_type)

    def get(self, key: str) -> bytes:
        with self._lock:
            if key not in self.blobs:
                raise NotFound(f"no object {key!r}")
            return self.blobs[key][0]

    def presign(self, key: str, ttl_s: int, base_url: str) -> SignedUrl:
        expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
        return SignedUrl(f"memory://{key}?expires={int(expires.timestamp())}", expires)

    def delete(self, key: str) -> None:
        with self._lock:
            self.blobs.pop(key, None)

    def list_keys(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.blobs if k.startswith(prefix))

    def ping(self) -> None:
        return None
