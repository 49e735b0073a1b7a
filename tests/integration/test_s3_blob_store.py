"""S3BlobStore against a real S3 server (SeaweedFS), where signatures and expiry are checked.

What a fake cannot prove: presigned URLs serve the bytes with their content type and stop
working when expired or altered, the bucket refuses anonymous readers even if someone made it
public, retention is a real lifecycle rule, and a put rides out a short outage.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from minio.error import S3Error

from dreamforge_adapters.s3 import S3BlobStore
from dreamforge_core.errors import PermanentStorageError, StorageError, Unavailable
from tests.support.seaweed import SeaweedS3, weed_or_skip

KEY = "dreamforge/alice/jobs/j1/generate/20260304T050607_0_64x64_42.png"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _store(server: SeaweedS3, bucket: str, **options: Any) -> S3BlobStore:
    return S3BlobStore(server.endpoint, server.access_key, server.secret_key, bucket, **options)


@pytest.fixture
def bucket() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(seaweed_s3: SeaweedS3, bucket: str) -> Iterator[S3BlobStore]:
    store = _store(seaweed_s3, bucket, attempts=2)
    store.ensure_bucket()
    yield store
    store.close()
    seaweed_s3.client().remove_bucket(bucket)


def _public_read_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


# Presigned URLs


def test_presigned_url_serves_the_bytes_and_content_type(store: S3BlobStore) -> None:
    store.put(KEY, PNG, "image/png")
    signed = store.presign(KEY, 60, "http://ignored.test")

    assert signed.url.startswith(f"{store.endpoint}/{store.bucket}/")
    response = httpx.get(signed.url)
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"


def test_urls_are_signed_for_the_public_endpoint_when_one_is_set(
    seaweed_s3: SeaweedS3, bucket: str
) -> None:
    public = seaweed_s3.endpoint.replace("127.0.0.1", "localhost")
    store = _store(seaweed_s3, bucket, public_endpoint=public)
    store.ensure_bucket()
    store.put("dreamforge/default/jobs/j/generate/p.png", b"public", "image/png")
    url = store.presign("dreamforge/default/jobs/j/generate/p.png", 60, "ignored").url
    assert url.startswith(public + "/")
    assert httpx.get(url).content == b"public"
    store.close()


def test_presigned_url_is_refused_after_its_ttl(store: S3BlobStore) -> None:
    store.put(KEY, PNG, "image/png")
    short = store.presign(KEY, 1, "")
    time.sleep(2.1)

    assert httpx.get(short.url).status_code == 403
    assert httpx.get(store.presign(KEY, 60, "").url).status_code == 200


def test_tampered_presigned_url_is_refused(store: S3BlobStore) -> None:
    store.put(KEY, PNG, "image/png")
    store.put(KEY.replace("_0_", "_1_"), PNG, "image/png")
    url = store.presign(KEY, 60, "").url
    last = url[-1]
    forged_signature = url[:-1] + ("0" if last != "0" else "1")
    other_object = url.replace("_0_", "_1_")

    assert httpx.get(forged_signature).status_code == 403
    assert httpx.get(other_object).status_code == 403
    assert httpx.get(url).status_code == 200


def test_anonymous_get_is_refused(store: S3BlobStore) -> None:
    store.put(KEY, PNG, "image/png")
    assert httpx.get(f"{store.endpoint}/{store.bucket}/{KEY}").status_code == 403
    assert httpx.get(f"{store.endpoint}/{store.bucket}?list-type=2").status_code == 403


# Bucket set-up


def test_ensure_bucket_removes_a_public_read_policy(seaweed_s3: SeaweedS3, bucket: str) -> None:
    admin = seaweed_s3.client()
    admin.make_bucket(bucket)
    admin.set_bucket_policy(bucket, _public_read_policy(bucket))
    store = _store(seaweed_s3, bucket)
    store.put(KEY, PNG, "image/png")
    anonymous_url = f"{seaweed_s3.endpoint}/{bucket}/{KEY}"
    assert httpx.get(anonymous_url).status_code == 200  # the policy really was public

    store.ensure_bucket()

    assert httpx.get(anonymous_url).status_code == 403
    with pytest.raises(S3Error) as no_policy:
        admin.get_bucket_policy(bucket)
    assert no_policy.value.code == "NoSuchBucketPolicy"
    admin.remove_bucket(bucket)


def test_ensure_bucket_sets_and_clears_the_retention_rule(
    seaweed_s3: SeaweedS3, bucket: str
) -> None:
    admin = seaweed_s3.client()
    _store(seaweed_s3, bucket, retention_days=3).ensure_bucket()
    _store(seaweed_s3, bucket, retention_days=3).ensure_bucket()  # idempotent

    lifecycle = admin.get_bucket_lifecycle(bucket)
    assert lifecycle is not None
    [rule] = lifecycle.rules
    assert rule.status == "Enabled"
    assert rule.rule_filter is not None
    assert rule.rule_filter.prefix == "dreamforge/"
    assert rule.expiration is not None
    assert rule.expiration.days == 3

    _store(seaweed_s3, bucket, retention_days=7).ensure_bucket()
    lifecycle = admin.get_bucket_lifecycle(bucket)
    assert lifecycle is not None
    assert [r.expiration.days for r in lifecycle.rules if r.expiration] == [7]

    _store(seaweed_s3, bucket, retention_days=0).ensure_bucket()
    assert admin.get_bucket_lifecycle(bucket) is None
    admin.remove_bucket(bucket)


def test_ping_names_the_endpoint_when_the_bucket_is_missing(
    seaweed_s3: SeaweedS3, bucket: str
) -> None:
    with pytest.raises(Unavailable, match=re.escape(seaweed_s3.endpoint)):
        _store(seaweed_s3, bucket).ping()


def test_refusals_are_not_retried(seaweed_s3: SeaweedS3, store: S3BlobStore) -> None:
    sleeps: list[float] = []
    wrong_secret = S3BlobStore(
        seaweed_s3.endpoint, seaweed_s3.access_key, "not-the-secret", store.bucket,
        attempts=5, sleep=sleeps.append,
    )  # fmt: skip
    missing_bucket = _store(seaweed_s3, f"{store.bucket}-missing", attempts=5, sleep=sleeps.append)

    wrong_key = S3BlobStore(
        seaweed_s3.endpoint, "no-such-access-key", seaweed_s3.secret_key, store.bucket,
        attempts=5, sleep=sleeps.append,
    )  # fmt: skip

    # Refusals are permanent for the job too: it fails at once instead of being retried.
    with pytest.raises(PermanentStorageError, match=r"SignatureDoesNotMatch|AccessDenied"):
        wrong_secret.put(KEY, PNG, "image/png")
    with pytest.raises(PermanentStorageError, match=r"InvalidAccessKeyId|AccessDenied"):
        wrong_key.put(KEY, PNG, "image/png")
    with pytest.raises(PermanentStorageError, match="NoSuchBucket"):
        missing_bucket.put(KEY, PNG, "image/png")
    with pytest.raises(PermanentStorageError, match="NoSuchBucket"):
        missing_bucket.list_keys("dreamforge/")
    assert sleeps == []


# Outages: a server of their own, so stopping it disturbs no other test.


@pytest.fixture(scope="module")
def outage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with SeaweedS3(tmp_path_factory.mktemp("seaweed-outage"), weed_or_skip()) as server:
        _store(server, "outage").ensure_bucket()
        yield server


@pytest.fixture
def server_down(outage_server: SeaweedS3) -> Iterator[SeaweedS3]:
    outage_server.stop()
    yield outage_server
    outage_server.start()


def test_ping_raises_unavailable_naming_the_endpoint_while_down(server_down: SeaweedS3) -> None:
    store = _store(server_down, "outage", connect_timeout_s=1.0)
    with pytest.raises(Unavailable, match=re.escape(server_down.endpoint)):
        store.ping()
    # Presigning is local: it still works, and the URL is good once S3 is back.
    assert store.presign(KEY, 60, "").url.startswith(server_down.endpoint)


def test_put_fails_when_down_longer_than_the_retry_window(server_down: SeaweedS3) -> None:
    sleeps: list[float] = []
    store = _store(server_down, "outage", attempts=3, base_delay_s=0.05, sleep=sleeps.append)
    with pytest.raises(StorageError, match="outage") as failure:
        store.put(KEY, PNG, "image/png")
    assert failure.value.__cause__ is not None
    assert not failure.value.permanent  # an outage may end: the job is retried
    assert len(sleeps) == 2  # three attempts, two waits


def test_put_rides_out_a_short_outage(outage_server: SeaweedS3) -> None:
    sleeps: list[float] = []

    def recording_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    # Waits of 0.1-0.2, 0.2-0.4, 0.4-0.8, then 0.5-1 s: 5.2 to 10.4 s in all, ample for a
    # restart (~1 s); the put returns as soon as the server is back. A request sent while the
    # server is half up can be accepted and never answered: a short read timeout turns that
    # into one more retry instead of a 30 s wait.
    store = _store(
        outage_server, "outage", attempts=12, base_delay_s=0.2, max_delay_s=1.0,
        read_timeout_s=2.0, sleep=recording_sleep,
    )  # fmt: skip
    key = f"dreamforge/outage/{uuid.uuid4().hex}.png"
    outcome: list[BaseException | None] = []

    def upload() -> None:
        try:
            store.put(key, PNG, "image/png")
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    outage_server.stop()
    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(0.3)
    outage_server.start()
    uploader.join(timeout=60)

    assert outcome == [None]
    assert sleeps  # it did fail at first and wait
    assert store.list_keys("dreamforge/outage/") == [key]
    assert httpx.get(store.presign(key, 60, "").url).content == PNG


def test_store_works_again_after_a_restart(outage_server: SeaweedS3) -> None:
    store = _store(outage_server, "outage")
    store.put(KEY, PNG, "image/png")
    outage_server.restart()
    store.ping()
    assert KEY in store.list_keys("dreamforge/")
