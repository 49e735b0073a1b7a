"""Checks on a job's outcome that many tests make."""

from __future__ import annotations

from dreamforge_core.domain.job import ErrorInfo, Job, JobState


def assert_failed_with(job: Job, code: str) -> ErrorInfo:
    """The job failed for good, with this error code; returns its error."""
    assert job.state is JobState.FAILED, job.state
    assert job.error is not None, "a failed job carries its error"
    assert job.error.code == code, job.error
    return job.error
