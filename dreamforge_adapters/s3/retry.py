"""Which S3 failures are worth another attempt, and the loop that makes those attempts.

The HTTP client has urllib3's own retries turned off, so this is the only place that decides:
a storage hiccup (connection refused, timeout, 5xx, SlowDown) is retried with the core's
backoff; a refusal (AccessDenied, NoSuchBucket, a bad request) fails at once, because asking
again gets the same answer and only delays the error the operator must see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import urllib3.exceptions
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from dreamforge_core.domain.retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger(__name__)

# Everything a minio call can raise when storage misbehaves (ValueError is a caller's bug).
STORAGE_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)

# S3 error codes that mean "busy or briefly broken", whatever the HTTP status says.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "OperationAborted",
        "XMinioServerNotInitialized",
    }
)


# S3 error codes that stay until an operator acts (creates the bucket, fixes credentials or
# the policy): the job fails at once instead of regenerating its images to be refused again.
PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
    }
)


def _status_is_transient(status: int) -> bool:
    return status >= 500 or status == 429


def is_transient(error: BaseException) -> bool:
    """True when the same request may well succeed if sent again a little later."""
    if isinstance(error, urllib3.exceptions.SSLError):
        return False  # a certificate problem does not heal by itself
    if isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, S3Error):
        return error.code in _TRANSIENT_CODES or _status_is_transient(error.response.status)
    if isinstance(error, ServerError):
        return _status_is_transient(error.status_code)
    if isinstance(error, InvalidResponseError):
        # A non-XML answer, typically a proxy's 502 page; minio keeps the status private.
        status = getattr(error, "_code", 0)
        return isinstance(status, int) and _status_is_transient(status)
    return False


def is_permanent(error: BaseException) -> bool:
    """True when no later attempt can succeed until storage or its configuration is fixed."""
    return isinstance(error, S3Error) and error.code in PERMANENT_CODES


def describe(error: BaseException) -> str:
    """A short reason for messages: the S3 code when there is one, else the exception type."""
    if isinstance(error, S3Error):
        return f"{error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


def with_retries(
    what: str,
    operation: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Runs `operation`, retrying transient failures until `policy.max_attempts` attempts.

    The last error is re-raised unchanged; callers translate it into the core's errors.
    """
    attempt = 1
    while True:
        try:
            return operation()
        except Exception as e:
            if not is_transient(e) or attempt >= policy.max_attempts:
                raise
            delay = policy.delay_s(attempt)
            log.warning(
                "%s failed (attempt %d of %d), retrying in %.2f s: %s",
                what, attempt, policy.max_attempts, delay, describe(e),
            )  # fmt: skip
            sleep(delay)
            attempt += 1
