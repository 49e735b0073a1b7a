"""Builds the HTTP application from the services the composition root hands over."""

from __future__ import annotations

from typing import cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

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
from dreamforge_adapters.http.services import ApiServices, HttpSettings
from dreamforge_adapters.http.sse import job_stream
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
        ],
        state=State({"services": services, "http_settings": settings}),
        exception_handlers={DreamForgeError: handle, HTTPException: handle, Exception: handle},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=settings.title,
            version=settings.version,
            description="Text-to-image jobs: create, follow (status, NDJSON logs, progress, "
            "resumable SSE) and collect images through expiring URLs.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
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
