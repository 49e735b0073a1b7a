"""Operations endpoints outside /v1, and the embedded blob server."""

from __future__ import annotations

import asyncio
import logging

from litestar import Response, get
from litestar.datastructures import State

from dreamforge_adapters.http.blocking import call
from dreamforge_adapters.http.jobs import services
from dreamforge_adapters.http.openapi import documented
from dreamforge_adapters.http.shapes import Health, Readiness
from dreamforge_core.errors import NotFound, Unavailable

log = logging.getLogger(__name__)


@get(
    "/health",
    **documented(summary="The process is alive", tag="operations", authenticated=False),
)
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    **documented(
        200,
        503,
        ok=Readiness,
        authenticated=False,
        summary="Dependencies are reachable",
        tag="operations",
    ),
)
async def ready(state: State) -> Readiness:
    checks: dict[str, str] = {}
    for name, check in services(state).ready_checks.items():
        try:
            await asyncio.to_thread(check)
            checks[name] = "ok"
        except Exception as e:
            # the error names hosts, users and paths: the log may hold them, a client may not
            log.warning("readiness check %s failed: %s", name, str(e) or type(e).__name__)
            checks[name] = "unavailable"
    failing = sorted(k for k, v in checks.items() if v != "ok")
    if failing:
        raise Unavailable(f"not ready: {', '.join(failing)}", details={"checks": checks})
    return Readiness(status="ready", checks=checks)


@get("/metrics", summary="Prometheus metrics", tags=["operations"], media_type="text/plain")
async def metrics(state: State) -> Response[bytes]:
    body, content_type = await call(state, services(state).metrics.render)
    return Response(body, media_type=content_type)


@get("/blobs/{key:path}", include_in_schema=False)
async def signed_blob(
    key: str, state: State, expires: str = "", signature: str = ""
) -> Response[bytes]:
    reader = services(state).blob_reader
    if reader is None:
        raise NotFound("this deployment serves artifacts from object storage")
    data, content_type = reader.read_signed(key.lstrip("/"), expires, signature)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=60"})
