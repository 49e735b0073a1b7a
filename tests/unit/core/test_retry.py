"""The retry rule: which codes are retried, how many attempts, how long between them."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamforge_core.domain.retry import RETRYABLE_CODES, RetryPolicy
from dreamforge_core.errors import (
    DreamForgeError,
    InvalidInput,
    OutOfMemory,
    PermanentStorageError,
    ProviderError,
    StepTimeout,
    StorageError,
    Unavailable,
)


class FixedRandom(random.Random):
    """A random source that always returns the same fraction."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def random(self) -> float:
        return self.fraction


@pytest.mark.parametrize("error", [StepTimeout, ProviderError, StorageError, Unavailable])
def test_transient_classes_are_retried(error: type[DreamForgeError]) -> None:
    assert error.code in RETRYABLE_CODES
    assert RetryPolicy().should_retry(error.code, 1)


@pytest.mark.parametrize("error", [InvalidInput, OutOfMemory, DreamForgeError])
def test_permanent_classes_are_never_retried(error: type[DreamForgeError]) -> None:
    assert error.code in {"invalid_input", "oom", "internal"}
    for attempts in range(5):
        assert not RetryPolicy(max_attempts=10).should_retry(error.code, attempts)


def test_a_permanent_storage_error_is_never_retried() -> None:
    """Its code is the retryable `storage_error`; the error itself says no retry can cure it."""
    error = PermanentStorageError("AccessDenied")
    assert error.code == "storage_error"
    assert error.permanent
    assert not StorageError("connection reset").permanent
    policy = RetryPolicy(max_attempts=10)
    for attempts in range(5):
        assert not policy.should_retry(error.code, attempts, permanent=error.permanent)
        assert policy.should_retry("storage_error", attempts, permanent=False)


@pytest.mark.parametrize("max_attempts", [1, 2, 3, 7])
def test_attempts_are_bounded(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    retried = [n for n in range(max_attempts + 3) if policy.should_retry("provider_error", n)]
    assert retried == list(range(max_attempts))


def test_the_delay_doubles_per_attempt_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0)
    top = FixedRandom(1.0)
    assert [policy.delay_s(n, top) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    bottom = FixedRandom(0.0)
    assert [policy.delay_s(n, bottom) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]


@settings(max_examples=300, deadline=None)
@given(
    base=st.floats(0.001, 60),
    cap=st.floats(0.001, 3600),
    attempts=st.integers(0, 60),
    fraction=st.floats(0, 1, exclude_max=True),
)
def test_the_delay_lies_in_the_jitter_window_and_under_the_cap(
    base: float, cap: float, attempts: int, fraction: float
) -> None:
    policy = RetryPolicy(base_delay_s=base, max_delay_s=cap)
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    delay = policy.delay_s(attempts, FixedRandom(fraction))
    assert ceiling / 2 <= delay <= ceiling
    assert delay <= cap
    following = policy.delay_s(attempts + 1, FixedRandom(fraction))
    assert following >= delay  # never shrinks with more attempts
    if base * 2 ** max(0, attempts) <= cap and attempts >= 1:
        assert following == pytest.approx(2 * delay)  # exponential until capped


@settings(max_examples=100, deadline=None)
@given(attempts=st.integers(1, 20), seed=st.integers(0, 2**32))
def test_real_random_delays_stay_in_the_window(attempts: int, seed: int) -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30)
    ceiling = min(30, 0.5 * 2 ** (attempts - 1))
    assert ceiling / 2 <= policy.delay_s(attempts, random.Random(seed)) <= ceiling
    assert ceiling / 2 <= policy.delay_s(attempts) <= ceiling


def test_jitter_spreads_delays() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=100)
    rng = random.Random(1)
    assert len({policy.delay_s(3, rng) for _ in range(20)}) > 1
