"""Bucket set-up done once at start-up: the bucket exists, is private, and expires artifacts.

Privacy is enforced rather than assumed: artifacts must only be reachable through presigned
URLs, so a bucket policy that grants anonymous access (left by a console click or an old
deployment) is deleted. Retention is a lifecycle rule of our own id under our key prefix;
other rules on the bucket are left as they are.
"""

from __future__ import annotations

import json
from typing import Any

from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

RETENTION_RULE_ID = "dreamforge-retention"
ARTIFACT_PREFIX = "dreamforge/"


def create_if_missing(client: Minio, bucket: str, region: str) -> None:
    if client.bucket_exists(bucket):
        return
    try:
        client.make_bucket(bucket, location=region)
    except S3Error as e:
        if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise  # another replica creating it at the same moment is fine


def _is_anonymous(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(_is_anonymous(p) for p in principal.values())
    if isinstance(principal, list):
        return any(_is_anonymous(p) for p in principal)
    return False


def grants_anonymous_access(policy: str) -> bool:
    """True when any Allow statement names everyone (`*`) as principal."""
    statements = json.loads(policy).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return any(s.get("Effect") == "Allow" and _is_anonymous(s.get("Principal")) for s in statements)


def make_private(client: Minio, bucket: str) -> bool:
    """Deletes a policy that lets anonymous clients in; returns whether it did."""
    try:
        policy = client.get_bucket_policy(bucket)
    except S3Error as e:
        if e.code == "NoSuchBucketPolicy":
            return False
        raise
    if not policy.strip() or not grants_anonymous_access(policy):
        return False
    client.delete_bucket_policy(bucket)
    return True


def apply_retention(client: Minio, bucket: str, days: int) -> None:
    """Sets our expiry rule to `days`, or removes it when `days` is 0."""
    current = client.get_bucket_lifecycle(bucket)
    rules = current.rules if current else []
    others = [r for r in rules if r.rule_id != RETENTION_RULE_ID]
    if days > 0:
        ours = Rule(
            ENABLED,
            rule_filter=Filter(prefix=ARTIFACT_PREFIX),
            rule_id=RETENTION_RULE_ID,
            expiration=Expiration(days=days),
        )
        client.set_bucket_lifecycle(bucket, LifecycleConfig([*others, ours]))
    elif len(others) == len(rules):
        return  # no rule of ours to remove
    elif others:
        client.set_bucket_lifecycle(bucket, LifecycleConfig(others))
    else:
        client.delete_bucket_lifecycle(bucket)
