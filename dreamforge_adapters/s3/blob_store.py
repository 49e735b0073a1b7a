"""The stack deployment's BlobStore: a private S3 bucket read through presigned GET URLs."""

from __future__ import annotations

import io
import os
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error
from minio.helpers import check_bucket_name

from dreamforge_adapters.s3 import bucket_setup
from dreamforge_adapters.s3.retry import STORAGE_FAILURES, describe, is_permanent, with_retries
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import NotFound, PermanentStorageError, StorageError, Unavailable
from dreamforge_core.ports.blob_store import BlobStore, SignedUrl

MAX_PRESIGN_TTL_S = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer


def _split_endpoint(endpoint: str) -> tuple[str, bool]:
    """`http(s)://host[:port]` → minio's `host[:port]` and whether to use TLS."""
    parts = urlsplit(endpoint)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.path not in ("", "/")
        or parts.query
    ):
        raise ValueError(f"S3 endpoint must look like http(s)://host[:port], not {endpoint!r}")
    return parts.netloc, parts.scheme == "https"


def _storage_error(message: str, error: BaseException) -> StorageError:
    """A refusal that stays (AccessDenied, NoSuchBucket, bad credentials) is permanent: the job
    fails at once; anything else (an outage past the retries here) may heal: retried."""
    return (PermanentStorageError if is_permanent(error) else StorageError)(message)


def _http_client(connect_timeout_s: float, read_timeout_s: float) -> urllib3.PoolManager:
    """Short, explicit timeouts and no urllib3 retries: `with_retries` alone decides.

    minio's default client waits 5 minutes per read and retries 5xx on its own, which would
    hide an outage from our backoff and hold a worker far past its step timeout.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
        retries=False,
        maxsize=10,
        ssl_context=ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE")),
    )


class S3BlobStore(BlobStore):
    """Artifacts in an S3/MinIO bucket that stays private; clients read via presigned URLs.

    Writes and deletes are retried with exponential backoff on transient failures; presigning
    is local computation, so it works (and costs nothing) even while S3 is down.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        region: str = "us-east-1",
        retention_days: int = 0,
        attempts: int = 5,
        base_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        public_endpoint: str | None = None,
    ) -> None:
        if retention_days < 0:
            raise ValueError("retention_days must be 0 (keep) or more")
        netloc, secure = _split_endpoint(endpoint)
        check_bucket_name(bucket, strict=True)  # a bad name is a configuration error: fail now
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self._region = region
        self._retention_days = retention_days
        self._policy = RetryPolicy(
            max_attempts=max(1, attempts), base_delay_s=base_delay_s, max_delay_s=max_delay_s
        )
        self._sleep = sleep
        self._http = _http_client(connect_timeout_s, read_timeout_s)

        def client_for(netloc: str, secure: bool) -> Minio:
            # Giving the region keeps minio from asking the server for it (presign stays local).
            return Minio(
                netloc,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=self._http,
            )

        self._client = client_for(netloc, secure)
        self._where = f"S3 bucket {bucket!r} at {self.endpoint}"
        # URLs are signed for the host clients use (`http://minio:9000` inside a compose
        # network is not reachable from a browser); signing needs no connection to it.
        self._signer = self._client
        if public_endpoint:
            self._signer = client_for(*_split_endpoint(public_endpoint))

    def ensure_bucket(self) -> None:
        """Creates the bucket if needed, makes it private, applies retention. Start-up only."""

        def set_up() -> None:
            bucket_setup.create_if_missing(self._client, self.bucket, self._region)
            bucket_setup.make_private(self._client, self.bucket)
            bucket_setup.apply_retention(self._client, self.bucket, self._retention_days)

        try:
            with_retries(f"setting up {self._where}", set_up, self._policy, self._sleep)
        except STORAGE_FAILURES as e:
            raise Unavailable(f"could not set up {self._where}: {describe(e)}") from e

    def put(self, key: str, data: bytes, content_type: str) -> None:
        def upload() -> None:
            # A fresh stream per attempt: a failed attempt may have consumed part of it.
            self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )

        try:
            with_retries(f"storing {key}", upload, self._policy, self._sleep)
        except STORAGE_FAILURES as e:
            raise _storage_error(f"could not store {key} in {self._where}: {describe(e)}", e) from e

    def get(self, key: str) -> bytes:
        def download() -> bytes:
            response = self._client.get_object(self.bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        try:
            return with_retries(f"reading {key}", download, self._policy, self._sleep)
        except S3Error as e:
            if e.code == "NoSuchKey":
                raise NotFound(f"no object {key!r}") from None
            raise _storage_error(f"could not read {key} in {self._where}: {describe(e)}", e) from e
        except STORAGE_FAILURES as e:
            raise _storage_error(f"could not read {key} in {self._where}: {describe(e)}", e) from e

    def presign(self, key: str, ttl_s: int, base_url: str) -> SignedUrl:
        """A SigV4 presigned GET on the S3 endpoint itself; `base_url` plays no part."""
        # SigV4 caps a URL at 7 days: a longer request is clamped, as the API clamps `ttl` to
        # its maximum, and the returned expiry tells the truth.
        ttl_s = max(1, min(ttl_s, MAX_PRESIGN_TTL_S))
        # X-Amz-Date has whole seconds; sign at a whole second so expires_at is exact.
        signed_at = datetime.now(UTC).replace(microsecond=0)
        ttl = timedelta(seconds=ttl_s)
        url = self._signer.presigned_get_object(
            self.bucket, key, expires=ttl, request_date=signed_at
        )
        return SignedUrl(url, signed_at + ttl)

    def delete(self, key: str) -> None:
        """Deleting a key that is not there succeeds, as S3 itself answers."""
        try:
            with_retries(
                f"deleting {key}",
                lambda: self._client.remove_object(self.bucket, key),
                self._policy,
                self._sleep,
            )
        except STORAGE_FAILURES as e:
            raise _storage_error(
                f"could not delete {key} in {self._where}: {describe(e)}", e
            ) from e

    def list_keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            objects = self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return sorted(o.object_name for o in objects if o.object_name is not None)

        try:
            return with_retries(f"listing {prefix!r}", listing, self._policy, self._sleep)
        except STORAGE_FAILURES as e:
            raise _storage_error(
                f"could not list {prefix!r} in {self._where}: {describe(e)}", e
            ) from e

    def ping(self) -> None:
        """One HEAD on the bucket, not retried: readiness must answer quickly."""
        try:
            exists = self._client.bucket_exists(self.bucket)
        except STORAGE_FAILURES as e:
            raise Unavailable(f"{self._where} is unreachable: {describe(e)}") from e
        if not exists:
            raise Unavailable(f"{self._where} does not exist")

    def close(self) -> None:
        """Closes pooled connections; for an orderly shutdown of the composition root."""
        self._http.clear()
