"""The small HTTP app a worker process serves: /health, /ready and /metrics only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException

from dreamforge_adapters.http.asgi import ASGIApp, EdgeMiddleware
from dreamforge_adapters.http.errors import exception_handler
from dreamforge_adapters.http.host_names import LoopbackHosts
from dreamforge_adapters.http.ops import health, metrics, ready
from dreamforge_adapters.http.services import HttpMetrics, HttpSettings
from dreamforge_core.errors import DreamForgeError


@dataclass(frozen=True, slots=True)
class OpsServices:
    """The part of ApiServices the operations routes read."""

    metrics: HttpMetrics
    ready_checks: Mapping[str, Callable[[], None]] = field(default_factory=dict)


def build_ops_app(services: OpsServices, hosts: LoopbackHosts | None = None) -> ASGIApp:
    handle = exception_handler(services.metrics.error)
    app = Litestar(
        route_handlers=[health, ready, metrics],
        # ops calls reach network stores (jobs by state): keep them off the event loop
        state=State({"services": services, "http_settings": HttpSettings(offload_blocking=True)}),
        exception_handlers={DreamForgeError: handle, HTTPException: handle, Exception: handle},
        openapi_config=None,
        logging_config=None,
    )
    return EdgeMiddleware(cast(ASGIApp, app), services.metrics, frozenset(), hosts=hosts)
