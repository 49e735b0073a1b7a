"""The real services the tests use, and what a test does when one is not answering: it is
skipped, except in CI (CI=true), where real-service tests must fail instead."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from dreamforge_core.errors import Unavailable

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("DREAMFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unreachable(why: str) -> NoReturn:
    """Skips the test that needs a service that is not answering (fails it in CI)."""
    if IN_CI:
        pytest.fail(f"{why} (CI=true: real-service tests must not skip)")
    pytest.skip(why)


def answering_redis() -> str:
    """REDIS_URL, once Redis answers a ping there."""
    from dreamforge_adapters.dramatiq_queue import ping

    try:
        ping(REDIS_URL)
    except Unavailable as e:
        unreachable(f"Redis is not answering at {REDIS_URL}: {e}")
    return REDIS_URL
