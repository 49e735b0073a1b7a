"""Builds the HTTP application from the services the composition root hands over."""

from __future__ import annotations

from typing import cast

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from dreamforge_adapters.http.asgi import ASGIApp, EdgeMiddleware
from dreamforge_adapters.http.errors import exception_handler
from dreamforge_adapters.http.jobs import (
    cancel_job,
    create_job,
    get_job,
    job_logs,
    job_progress,
    list_artifacts,
)
from dreamforge_adapters.http.models import get_model, list_models
from dreamforge_adapters.http.ops import health, metrics, ready, signed_blob
from dreamforge_adapters.http.playground import page_headers, playground_router
from dreamforge_adapters.http.services import ApiServices, HttpSettings
from dreamforge_adapters.http.sse import job_stream
from dreamforge_adapters.http.swagger import OfflineSwaggerPlugin
from dreamforge_core.errors import DreamForgeError


def build_litestar(services: ApiServices, settings: HttpSettings) -> Litestar:
    handle = exception_handler(services.metrics.error)
    return Litestar(
        route_handlers=[
            create_job,
            get_job,
            cancel_job,
            list_artifacts,
            job_logs,
            job_progress,
            job_stream,
            list_models,
            get_model,
            health,
            ready,
            metrics,
            signed_blob,
            playground_router(settings.image_origins),
        ],
        state=State({"services": services, "http_settings": settings}),
        exception_handlers={DreamForgeError: handle, HTTPException: handle, Exception: handle},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=settings.title,
            version=settings.version,
            description="Text-to-image jobs: create, follow (status, NDJSON logs, progress, "
            "resumable SSE) and collect images through expiring URLs.",
            # served from the package under the page's security headers: works offline
            openapi_router=Router(
                path="/schema",
                route_handlers=[],
                response_headers=page_headers(settings.image_origins),
                include_in_schema=False,
            ),
            render_plugins=[OfflineSwaggerPlugin(path=["/", "/swagger"])],
        ),
        logging_config=None,
        debug=False,
    )


def build_app(services: ApiServices, settings: HttpSettings) -> ASGIApp:
    """The ASGI application: Litestar wrapped in the edge layer (ids, Host, auth, metrics)."""
    litestar = cast(ASGIApp, build_litestar(services, settings))
    return EdgeMiddleware(
        litestar,
        services.metrics,
        settings.api_keys,
        services.tracer,
        admin_keys=settings.admin_api_keys,
        hosts=settings.hosts,
    )
