"""Artifacts in a local directory, read through HMAC-signed, expiring URLs this server serves."""

from dreamforge_adapters.localfs.blob_store import LocalBlobStore

__all__ = ["LocalBlobStore"]
