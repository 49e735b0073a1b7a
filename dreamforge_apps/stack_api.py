"""`dreamforge api`: the HTTP API of the stack. Stateless: run as many replicas as needed."""

from __future__ import annotations

import logging

import uvicorn

from dreamforge_adapters.http import ApiServices, HttpSettings, build_app
from dreamforge_apps import __version__
from dreamforge_apps.runners import configured_default_model
from dreamforge_apps.serve import check_bind, served_hosts, uvicorn_config
from dreamforge_apps.settings import Settings
from dreamforge_apps.sources import download_jobs
from dreamforge_apps.stack import freeze_start_up_objects, open_stack
from dreamforge_core.use_cases.create_job import CreateJob
from dreamforge_core.use_cases.queries import ArtifactLimits, JobQueries, ModelQueries

log = logging.getLogger(__name__)


def serve_api(settings: Settings, host: str, port: int) -> None:
    check_bind(host, settings)
    parts = open_stack(settings, listen=True, service="api")
    try:
        create = CreateJob(
            parts.repo,
            parts.queue,
            parts.registry,
            parts.clock,
            default_model_id=configured_default_model(settings),
            idempotency_window_s=settings.idempotency_window_s,
            downloads=download_jobs(settings, parts.io_queue),
        )
        services = ApiServices(
            create_job=create,
            jobs=JobQueries(
                parts.repo,
                parts.blobs,
                ArtifactLimits(settings.artifact_ttl_s, settings.artifact_ttl_max_s),
            ),
            models=ModelQueries(parts.registry),
            bus=parts.bus,
            metrics=parts.metrics,
            ready_checks=parts.ready_checks(),
            tracer=parts.tracing.tracer,
        )
        http = HttpSettings(
            offload_blocking=True,  # a network store can block; keep the event loop free
            api_keys=settings.api_key_set,
            admin_api_keys=settings.admin_api_key_set,
            public_url=settings.public_url,
            sse_keepalive_s=settings.sse_keepalive_s,
            version=__version__,
            hosts=served_hosts(host, settings),
        )
        app = build_app(services, http)
        freeze_start_up_objects()
        log.info("Dream Forge API listening on http://%s:%d (stack)", host, port)
        uvicorn.Server(uvicorn_config(app, host, port, settings)).run()
    finally:
        parts.close()
