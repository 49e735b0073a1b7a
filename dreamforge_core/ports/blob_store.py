from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SignedUrl:
    url: str
    expires_at: datetime


class BlobStore(Protocol):
    """Private object storage; clients read only through expiring signed URLs."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Stores data under key; raises StorageError."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under key; raises NotFound when there are none, StorageError."""
        ...

    def presign(self, key: str, ttl_s: int, base_url: str) -> SignedUrl:
        """An absolute URL for GET valid `ttl_s` seconds. `base_url` is this service's public
        root, for stores that serve through the service itself."""
        ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def ping(self) -> None:
        """Raises Unavailable when the store cannot be reached."""
        ...
