"""One error root with stable codes; adapters translate vendor errors into these.

The HTTP layer maps each code to a status; the retry rule decides by code whether a
failure is worth another attempt.
"""

from __future__ import annotations

from typing import Any


class DreamForgeError(Exception):
    """Raised for any failure the service knows how to name."""

    code = "internal"
    #: True when no further attempt can succeed, whatever the code's class says: the retry
    #: rule then fails the job at once (see `PermanentStorageError`).
    permanent = False

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.job_id = job_id


class InvalidInput(DreamForgeError):
    """Raised when a request body, path or query value breaks a rule."""

    code = "invalid_input"

    @classmethod
    def for_fields(cls, errors: list[FieldError]) -> InvalidInput:
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return cls(
            f"invalid request: {summary}",
            details={"errors": [{"field": e.field, "message": e.message} for e in errors]},
        )


class FieldError:
    """One offending field and what is wrong with it."""

    __slots__ = ("field", "message")

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message

    def __repr__(self) -> str:
        return f"FieldError({self.field!r}, {self.message!r})"


class NotFound(DreamForgeError):
    """Raised when a job, model or artifact does not exist."""

    code = "not_found"

    @classmethod
    def job(cls, job_id: str) -> NotFound:
        """The answer for a job id that names no job."""
        return cls(f"no job with id {job_id!r}", details={"job_id": job_id}, job_id=job_id)


class IdempotencyConflict(DreamForgeError):
    """Raised when an Idempotency-Key is reused with a different request body."""

    code = "idempotency_conflict"


class Unauthorized(DreamForgeError):
    """Raised when a request lacks a valid API key."""

    code = "unauthorized"


class Forbidden(DreamForgeError):
    """Raised when access is refused: a signed URL expired or altered, a non-admin API key
    asking for an admin action, a download led to an address its source may not reach."""

    code = "forbidden"


class PayloadTooLarge(DreamForgeError):
    """Raised when a request body exceeds the size limit."""

    code = "payload_too_large"


class UnsupportedMediaType(DreamForgeError):
    """Raised when a request body is not JSON."""

    code = "unsupported_media_type"


class Unavailable(DreamForgeError):
    """Raised when a dependency (database, queue, storage) cannot be reached."""

    code = "unavailable"


class ModelConflict(DreamForgeError):
    """Raised when a download would replace the files behind an installed model id."""

    code = "model_conflict"


class InsufficientStorage(DreamForgeError):
    """Raised when a download would not fit the models root's disk budget or free space."""

    code = "insufficient_storage"


class InvalidState(DreamForgeError):
    """Raised when a client asks a job for what its state no longer allows (cancelling a
    finished job)."""

    code = "invalid_state"


class RateLimited(DreamForgeError):
    """Raised when a caller is over one of its limits; `retry_after_s` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, limit: str, **kwargs: Any) -> None:
        details = {"limit": limit, "retry_after_s": retry_after_s}
        super().__init__(message, details=details, **kwargs)
        self.retry_after_s = retry_after_s


class InvalidTransition(DreamForgeError):
    """Raised when a job or step is asked to move to a state its lifecycle forbids."""

    code = "internal"


class ConcurrentUpdate(DreamForgeError):
    """Raised when a job was changed by someone else since it was read."""

    code = "conflict"


# Failures while executing a job. Their codes are what a failed job reports.


class ExecutionError(DreamForgeError):
    """Raised when generating an item fails."""


class OutOfMemory(ExecutionError):
    """Raised when the accelerator runs out of memory; not retried at the same settings."""

    code = "oom"


class StepTimeout(ExecutionError):
    """Raised when a step exceeds its hard timeout."""

    code = "timeout"


class ProviderError(ExecutionError):
    """Raised when the runner crashes or misbehaves."""

    code = "provider_error"


class StorageError(ExecutionError):
    """Raised when an artifact cannot be stored; transient (an outage, a timeout, a 5xx):
    the job is retried."""

    code = "storage_error"


def error_codes() -> frozenset[str]:
    """Every code the errors of this module carry: the known values of an error-code label."""
    found: set[str] = set()
    pending: list[type[DreamForgeError]] = [DreamForgeError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == __name__:  # others (adapters' subclasses) reuse these codes
            found.add(cls.code)
        pending.extend(cls.__subclasses__())
    return frozenset(found)


class PermanentStorageError(StorageError):
    """Raised when storage refuses for a reason no retry cures (access denied, no such
    bucket, wrong credentials, disk full, read-only or unwritable directory): the job fails
    at once instead of generating its images again for every attempt."""

    permanent = True
