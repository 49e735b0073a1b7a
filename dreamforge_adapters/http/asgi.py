"""The outermost ASGI layer: correlation ids, the Host check, API-key auth and request metrics.

It wraps the whole application, so unknown routes and refused requests also get the
envelope, the correlation header and a metrics sample, and every line a request logs carries
its correlation id (and the job's id on a job's path). An authorised request carries its
`Caller` (the key's fingerprint and whether it is an admin key) to the handlers.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from litestar.utils import normalize_path
from structlog.contextvars import bound_contextvars

from dreamforge_adapters.http.errors import CORRELATION_SCOPE_KEY, envelope
from dreamforge_adapters.http.host_names import LoopbackHosts
from dreamforge_adapters.http.services import HttpMetrics
from dreamforge_core.domain.caller import KEYLESS, Caller
from dreamforge_core.ports.tracer import NO_TRACER, Tracer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_VALID_CID = re.compile(r"^[\x21-\x7e]{1,128}$")
_ID_SEGMENT = re.compile(r"/(jobs|models|blobs)/[^/]+")
UNMATCHED = "unmatched"
CALLER_SCOPE_KEY = "dreamforge.caller"
#: A request that reached a handler without passing the edge: it may do nothing special.
_UNKNOWN_CALLER = Caller()
_NO_KEY = "missing or invalid API key (send Authorization: Bearer <key>)"
_NOT_LOOPBACK = (
    "this server answers only requests for localhost, 127.0.0.1 or [::1] (the Host header "
    "named another host); configure API keys to serve other names"
)
_JOB_PATH = re.compile(r"^/v1/jobs/([\x21-\x2e\x30-\x7e]{1,128})(?:/|$)")


def log_fields(path: str, correlation_id: str) -> dict[str, str]:
    """What each log line of a request carries: its correlation id, and on a job's path the
    job id (as sent: a line about an unknown id still names it)."""
    job = _JOB_PATH.match(path)
    if job is None:
        return {"correlation_id": correlation_id}
    return {"correlation_id": correlation_id, "job_id": job.group(1)}


def _trace_headers(headers: dict[bytes, bytes]) -> dict[str, str] | None:
    """The W3C trace context a caller sent, if any."""
    parent = headers.get(b"traceparent")
    if parent is None:
        return None
    found = {"traceparent": parent.decode("latin-1")}
    if b"tracestate" in headers:
        found["tracestate"] = headers[b"tracestate"].decode("latin-1")
    return found


def route_label(path: str) -> str:
    """Bounded label set for metrics: ids collapse to a placeholder."""
    if path.startswith("/blobs/"):
        return "/blobs/{key}"
    if path.startswith("/schema"):
        return "/schema"
    if path.startswith("/static/"):
        return "/static/{name}"
    return _ID_SEGMENT.sub(lambda m: f"/{m.group(1)}/{{id}}", path)


def request_caller(scope: Mapping[str, object]) -> Caller:
    """The caller the edge authorised for this request."""
    caller = scope.get(CALLER_SCOPE_KEY)
    return caller if isinstance(caller, Caller) else _UNKNOWN_CALLER


def _protected(path: str) -> bool:
    """Whether the route the path reaches is under /v1, judged on the path as the router
    normalises it: `//v1/models` reaches /v1/models too."""
    return normalize_path(path).startswith("/v1")


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        api_keys: frozenset[str],
        tracer: Tracer = NO_TRACER,
        admin_keys: frozenset[str] = frozenset(),
        hosts: LoopbackHosts | None = None,
    ) -> None:
        """`admin_keys` are API keys too, which may also run admin actions; `hosts`, when
        given, are the only Host names answered (a loopback server without keys)."""
        self._app = app
        self._metrics = metrics
        self._keys = [
            (k.encode(), Caller.with_key(k, admin=k in admin_keys))
            for k in sorted(api_keys | admin_keys)
        ]
        self._tracer = tracer
        self._hosts = hosts  # None: any Host is answered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-correlation-id", b"").decode("latin-1")
        cid = given if _VALID_CID.match(given) else uuid.uuid4().hex
        scope[CORRELATION_SCOPE_KEY] = cid
        status_seen = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-correlation-id", cid.encode()),
                ]
            await send(message)

        try:
            with (
                bound_contextvars(**log_fields(scope["path"], cid)),
                self._tracer.span(
                    f"HTTP {scope['method']}",
                    _trace_headers(headers),
                    **{"http.request.method": scope["method"], "url.path": scope["path"]},
                    correlation_id=cid,
                ),
            ):
                if self._hosts is not None and not self._hosts.allow(
                    [value for name, value in scope["headers"] if name == b"host"]
                ):
                    await self._refuse(send_with_id, cid, "misdirected_request", _NOT_LOOPBACK)
                    return
                caller = self._caller(headers) if self._keys else KEYLESS
                if caller is None and _protected(scope["path"]):
                    await self._refuse(
                        send_with_id,
                        cid,
                        "unauthorized",
                        _NO_KEY,
                        [(b"www-authenticate", b"Bearer")],
                    )
                else:
                    if caller is not None:
                        scope[CALLER_SCOPE_KEY] = caller
                    await self._app(scope, receive, send_with_id)
        finally:
            self._metrics.observe_request(
                scope["method"],
                # the router sets path_template on a match; every other path (unknown, or
                # refused before routing) shares one label, so clients cannot add series
                route_label(scope["path"]) if "path_template" in scope else UNMATCHED,
                status_seen,
                time.perf_counter() - started,
            )

    def _caller(self, headers: dict[bytes, bytes]) -> Caller | None:
        """The caller whose key the request carries; None without a valid key."""
        value = headers.get(b"authorization", b"")
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return None
        token = token.strip()
        found = None
        # compare against every key so timing does not tell which one nearly matched
        for key, caller in self._keys:
            if hmac.compare_digest(token, key):
                found = caller
        return found

    async def _refuse(
        self,
        send: Send,
        cid: str,
        code: str,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        status, body = envelope(code, message, cid)
        self._metrics.error(code)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    *(headers or []),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
