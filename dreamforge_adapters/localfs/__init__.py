"""The local filesystem: artifacts in a directory, read through HMAC-signed, expiring URLs this
server serves; the lock that keeps one server per data directory."""

from dreamforge_adapters.localfs.blob_store import LocalBlobStore
from dreamforge_adapters.localfs.dir_lock import DirectoryInUse, DirectoryLock

__all__ = ["DirectoryInUse", "DirectoryLock", "LocalBlobStore"]
