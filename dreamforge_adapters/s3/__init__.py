"""Artifacts in S3 or MinIO (minio client): a private bucket, presigned URLs, lifecycle expiry."""

from dreamforge_adapters.s3.blob_store import S3BlobStore

__all__ = ["S3BlobStore"]
