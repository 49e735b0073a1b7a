"""What happens to a job whose worker died while running it (shared by delivery and sweeps)."""

from __future__ import annotations

from datetime import datetime

from dreamforge_core.domain.job import ErrorInfo, Job
from dreamforge_core.domain.retry import RetryPolicy


def reclaim_abandoned(job: Job, now: datetime, retry: RetryPolicy) -> str | None:
    """Puts a running job whose worker is gone back in the queue, resuming at its first
    unfinished item; or, when it has used all its attempts, fails it: a job that keeps
    killing its worker is poisoned. Returns the dead-letter reason in that case."""
    if job.attempts >= retry.max_attempts:
        message = f"the worker stopped {job.attempts} times while running this job"
        job.fail(ErrorInfo("provider_error", message), now)
        return f"provider_error: {message}"
    job.requeue_interrupted(now)
    return None
