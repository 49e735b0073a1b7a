"""The one mapping from errors to the envelope and HTTP status of docs/api.md."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from dreamforge_adapters.http.shapes import ErrorBody, ErrorEnvelope
from dreamforge_core.errors import DreamForgeError, FieldError, InvalidInput, RateLimited

log = logging.getLogger(__name__)

STATUS_BY_CODE = {
    "invalid_input": 422,
    "not_found": 404,
    "idempotency_conflict": 409,
    "invalid_state": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "payload_too_large": 413,
    "misdirected_request": 421,
    "rate_limited": 429,
    "headers_too_large": 431,
    "unsupported_media_type": 415,
    "unavailable": 503,
    "internal": 500,
}
#: Codes the error handler counts (`JobMetrics.error`). `headers_too_large` is answered by the
#: protocol layer before any request reaches the application, so it is never counted.
COUNTED_CODES = frozenset(STATUS_BY_CODE) - {"headers_too_large"}
_CODE_BY_STATUS = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "idempotency_conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    503: "unavailable",
}
CORRELATION_SCOPE_KEY = "dreamforge.correlation_id"
# set by the connection when it cut the client off (and answered it) mid-request: the code
CUT_OFF_SCOPE_KEY = "dreamforge.cut_off"


def envelope(
    code: str,
    message: str,
    correlation_id: str,
    *,
    details: dict[str, Any] | None = None,
    job_id: str | None = None,
) -> tuple[int, bytes]:
    body = ErrorEnvelope(
        ErrorBody(
            code=code,  # type: ignore[arg-type]
            message=message,
            details=details or {},
            correlation_id=correlation_id,
            job_id=job_id,
        )
    )
    return STATUS_BY_CODE.get(code, 500), msgspec.json.encode(body)


def describe(exc: Exception) -> tuple[str, str, dict[str, Any], str | None]:
    """(code, message, details, job_id) for any exception reaching the HTTP layer."""
    if isinstance(exc, DreamForgeError):
        code = exc.code if exc.code in STATUS_BY_CODE else "internal"
        return code, exc.message, exc.details, exc.job_id
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        # a typed query or header value Litestar refused: named like the core's refusals
        refused = InvalidInput.for_fields([_field_error(e) for e in exc.extra])
        return refused.code, refused.message, refused.details, None
    if isinstance(exc, HTTPException):
        code = _CODE_BY_STATUS.get(exc.status_code, "internal")
        if exc.status_code == 413:
            return code, "request body exceeds the size limit", {}, None
        if code == "internal":
            return code, "internal error", {}, None
        return code, str(exc.detail), {}, None
    return "internal", "internal error", {}, None


#: The largest integer a query value may hold: a 64-bit signed integer, as the stores keep.
QUERY_INT_MAX = 2**63 - 1
# What a typed query value must be, in the words the core uses for the values it checks
VALUE_RULES = {
    "ttl": f"must be an integer >= 1 and <= {QUERY_INT_MAX}",
    "tail": f"must be an integer >= 0 and <= {QUERY_INT_MAX}",
    "include_disabled": "must be true or false",
}


def _field_error(entry: Any) -> FieldError:
    if not isinstance(entry, dict):
        return FieldError("query", str(entry))
    name = str(entry.get("key") or entry.get("source") or "query")
    return FieldError(name, VALUE_RULES.get(name) or str(entry.get("message") or "is not valid"))


ExceptionHandler = Callable[[Request[Any, Any, Any], Exception], Response[bytes]]


def exception_handler(count_error: Callable[[str], None]) -> ExceptionHandler:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        code, message, details, job_id = describe(exc)
        cut_off = request.scope.get(CUT_OFF_SCOPE_KEY)
        if cut_off is not None:
            # the client was too slow and has had its answer; the application only saw it go
            code, message, details = str(cut_off), "the client was cut off", {}
        if code == "internal":
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        count_error(code)
        correlation_id = str(request.scope.get(CORRELATION_SCOPE_KEY, ""))
        status, body = envelope(code, message, correlation_id, details=details, job_id=job_id)
        headers = _headers(exc, status)
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    return handle


def _headers(exc: Exception, status: int) -> dict[str, str]:
    """Headers the status requires: `Allow` on 405 (RFC 9110; the router names the methods),
    `WWW-Authenticate` on 401, `Retry-After` on 429."""
    out = dict(exc.headers or {}) if isinstance(exc, HTTPException) and status == 405 else {}
    if status == 401:
        out["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        out["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return out
