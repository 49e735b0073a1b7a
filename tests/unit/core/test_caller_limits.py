"""Limits per API key: creations per minute and jobs queued or running at once; over either a
valid request is refused with `rate_limited`, stores nothing, and says when to try again."""

from __future__ import annotations

import pytest

from dreamforge_core.domain.caller import Caller
from dreamforge_core.errors import RateLimited
from dreamforge_core.use_cases.caller_limits import ACTIVE_RETRY_AFTER_S, Limits
from dreamforge_core.use_cases.create_job import CreateJobCommand

from .conftest import SMALL, Harness, HarnessFactory

ALICE = Caller.with_key("alice-key", admin=False)
BOB = Caller.with_key("bob-key", admin=False)


def _create(h: Harness, caller: Caller) -> str:
    body = {"params": {"prompt": "p", **SMALL}}
    return h.create_job(CreateJobCommand(body=body, caller=caller)).job.id


def test_creations_over_the_per_minute_limit_are_refused_until_the_next_minute(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(limits=Limits(per_minute=3))
    for _ in range(3):
        _create(h, ALICE)

    with pytest.raises(RateLimited) as refused:
        _create(h, ALICE)
    assert refused.value.code == "rate_limited"
    assert refused.value.details["limit"] == "creations_per_minute"
    assert 1 <= refused.value.retry_after_s <= 60
    assert h.job_count() == 3  # the refused request stored nothing

    _create(h, BOB)  # another key has its own count
    h.clock.advance(refused.value.retry_after_s)
    _create(h, ALICE)  # a new minute
    assert h.job_count() == 5


def test_active_jobs_over_the_limit_are_refused_until_one_finishes(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(limits=Limits(active_jobs=2))
    _create(h, ALICE)
    _create(h, ALICE)

    with pytest.raises(RateLimited) as refused:
        _create(h, ALICE)
    assert refused.value.details["limit"] == "active_jobs"
    assert refused.value.retry_after_s == ACTIVE_RETRY_AFTER_S
    _create(h, BOB)

    h.settle()  # the queued jobs run and finish
    _create(h, ALICE)
    assert h.job_count() == 4


def test_without_keys_the_server_is_one_caller(make_harness: HarnessFactory) -> None:
    h = make_harness(limits=Limits(per_minute=2))
    h.create()
    h.create()
    with pytest.raises(RateLimited):
        h.create()


def test_no_limit_by_default(harness: Harness) -> None:
    for _ in range(50):
        _create(harness, ALICE)
    assert harness.job_count() == 50
