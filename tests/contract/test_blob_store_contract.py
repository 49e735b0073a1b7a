"""The BlobStore contract, run against the fake, the local directory and S3 (real SeaweedFS).

The use cases only ever see the port, so every store must agree on what put, list_keys,
delete, presign and ping mean; the S3-specific behaviour (URL expiry, privacy, retries) is in
tests/integration/test_s3_blob_store.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from dreamforge_adapters.localfs import LocalBlobStore
from dreamforge_adapters.memory import MemoryBlobStore
from dreamforge_adapters.s3 import S3BlobStore
from dreamforge_core.errors import NotFound
from dreamforge_core.ports.blob_store import BlobStore
from tests.support.seaweed import SeaweedS3

JOB = "dreamforge/alice/jobs/j1/generate"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(params=["memory", "localfs", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "localfs":
        yield LocalBlobStore(tmp_path / "blobs", b"key")
    else:
        # Asked for lazily, so running only the fake and local cases starts no server.
        server: SeaweedS3 = request.getfixturevalue("seaweed_s3")
        bucket = f"contract-{uuid.uuid4().hex[:12]}"
        store = S3BlobStore(
            server.endpoint, server.access_key, server.secret_key, bucket, attempts=2
        )
        store.ensure_bucket()
        yield store
        store.close()
        server.client().remove_bucket(bucket)  # SeaweedFS deletes a non-empty bucket too


def test_put_list_delete_round_trip(blob_store: BlobStore) -> None:
    blob_store.put(f"{JOB}/0.png", PNG, "image/png")
    blob_store.put(f"{JOB}/1.jpg", b"jpeg bytes", "image/jpeg")
    assert blob_store.list_keys("") == [f"{JOB}/0.png", f"{JOB}/1.jpg"]

    blob_store.delete(f"{JOB}/0.png")
    assert blob_store.list_keys("") == [f"{JOB}/1.jpg"]
    blob_store.delete(f"{JOB}/1.jpg")
    assert blob_store.list_keys("") == []


def test_get_returns_what_was_put_and_not_found_for_a_missing_key(blob_store: BlobStore) -> None:
    blob_store.put(f"{JOB}/0.png", PNG, "image/png")
    assert blob_store.get(f"{JOB}/0.png") == PNG
    with pytest.raises(NotFound):
        blob_store.get(f"{JOB}/missing.png")


def test_put_again_replaces_the_object(blob_store: BlobStore) -> None:
    blob_store.put(f"{JOB}/0.png", b"first", "image/png")
    blob_store.put(f"{JOB}/0.png", PNG, "image/png")
    assert blob_store.list_keys(JOB) == [f"{JOB}/0.png"]


def test_list_keys_by_prefix_is_recursive_and_sorted(blob_store: BlobStore) -> None:
    keys = [
        "dreamforge/bob/jobs/j9/generate/0.png",
        f"{JOB}/2.png",
        "dreamforge/alice/jobs/j2/generate/0.png",
        f"{JOB}/10.png",
        f"{JOB}/1.png",
        "elsewhere/0.png",
    ]
    for key in keys:
        blob_store.put(key, PNG, "image/png")

    assert blob_store.list_keys("dreamforge/alice/") == [
        "dreamforge/alice/jobs/j1/generate/1.png",
        "dreamforge/alice/jobs/j1/generate/10.png",
        "dreamforge/alice/jobs/j1/generate/2.png",
        "dreamforge/alice/jobs/j2/generate/0.png",
    ]
    assert blob_store.list_keys(f"{JOB}/") == [f"{JOB}/1.png", f"{JOB}/10.png", f"{JOB}/2.png"]
    assert blob_store.list_keys("") == sorted(keys)
    assert blob_store.list_keys("nothing/here/") == []


def test_list_keys_prefix_need_not_end_at_a_slash(blob_store: BlobStore) -> None:
    for key in (f"{JOB}/1.png", f"{JOB}/10.png", f"{JOB}/2.png"):
        blob_store.put(key, PNG, "image/png")
    assert blob_store.list_keys(f"{JOB}/1") == [f"{JOB}/1.png", f"{JOB}/10.png"]


def test_delete_of_a_missing_key_is_fine(blob_store: BlobStore) -> None:
    blob_store.delete(f"{JOB}/never-stored.png")
    blob_store.put(f"{JOB}/0.png", PNG, "image/png")
    blob_store.delete(f"{JOB}/0.png")
    blob_store.delete(f"{JOB}/0.png")
    assert blob_store.list_keys("") == []


def test_presign_gives_an_absolute_url_that_expires_after_the_ttl(blob_store: BlobStore) -> None:
    key = f"{JOB}/0.png"
    blob_store.put(key, PNG, "image/png")
    before = datetime.now(UTC)
    signed = blob_store.presign(key, 600, "http://dreamforge.test")

    parts = urlsplit(signed.url)
    assert parts.scheme
    assert parts.netloc
    assert key in signed.url or quote(key) in signed.url
    assert signed.expires_at.tzinfo is not None
    expected = before + timedelta(seconds=600)
    assert abs(signed.expires_at - expected) < timedelta(seconds=2)


def test_ping_answers_when_the_store_is_reachable(blob_store: BlobStore) -> None:
    blob_store.ping()


def test_a_url_lifetime_beyond_seven_days_is_clamped_not_refused(blob_store: BlobStore) -> None:
    blob_store.put(f"{JOB}/long.png", PNG, "image/png")
    signed = blob_store.presign(f"{JOB}/long.png", 30 * 24 * 3600, "http://127.0.0.1:1")
    assert signed.url
    assert signed.expires_at > datetime.now(UTC)
