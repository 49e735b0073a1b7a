"""The retry rule: which failures get another attempt, how many, and after how long."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Transient classes: the same request may well succeed on another attempt.
RETRYABLE_CODES = frozenset({"timeout", "provider_error", "storage_error", "unavailable"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded attempts with exponential backoff and equal jitter.

    Rules: `invalid_input`, `oom` and `internal` are never retried (the same request fails the
    same way; OOM needs other settings), nor is an error marked permanent (a storage refusal:
    another attempt would regenerate the images only to be refused again); other classes
    are retried until `max_attempts` attempts were made; the n-th retry waits a random time
    in [base·2^(n-1)/2, base·2^(n-1)], capped at `max_delay_s`.
    """

    max_attempts: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0

    def should_retry(self, code: str, attempts_made: int, *, permanent: bool = False) -> bool:
        return not permanent and code in RETRYABLE_CODES and attempts_made < self.max_attempts

    def delay_s(self, attempts_made: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, attempts_made - 1))
        r = rng.random() if rng is not None else random.random()
        return ceiling / 2 + r * ceiling / 2
