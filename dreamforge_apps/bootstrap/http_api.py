"""The HTTP API over the use cases, as both the embedded server and the stack's API serve it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dependency_injector import containers, providers

from dreamforge_adapters.http import (
    ApiServices,
    HttpMetrics,
    HttpSettings,
    LoopbackHosts,
    SignedBlobReader,
    build_app,
    origin_of,
)
from dreamforge_apps import __version__
from dreamforge_apps.settings import Settings
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.tracer import Tracer
from dreamforge_core.use_cases.cancel_job import CancelJob
from dreamforge_core.use_cases.create_job import CreateJob
from dreamforge_core.use_cases.queries import JobQueries, ModelQueries


def http_settings(
    settings: Settings, hosts: LoopbackHosts | None, offload_blocking: bool
) -> HttpSettings:
    return HttpSettings(
        offload_blocking=offload_blocking,
        api_keys=settings.api_key_set,
        admin_api_keys=settings.admin_api_key_set,
        public_url=settings.public_url,
        sse_keepalive_s=settings.sse_keepalive_s,
        version=__version__,
        hosts=hosts,
        # the playground shows artifacts from where their presigned URLs point
        image_origins=origin_of(settings.s3_public_endpoint or settings.s3_endpoint),
    )


class HttpApi(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    # Only these Host names are answered (a loopback server without keys); None: any.
    hosts: providers.Dependency[LoopbackHosts | None] = providers.Dependency(
        default=providers.Object(None)
    )
    # A network store can block: the stack runs the use cases off the event loop.
    offload_blocking = providers.Dependency(instance_of=bool, default=False)

    create_job: providers.Dependency[CreateJob] = providers.Dependency()
    cancel_job: providers.Dependency[CancelJob] = providers.Dependency()
    job_queries: providers.Dependency[JobQueries] = providers.Dependency()
    model_queries: providers.Dependency[ModelQueries] = providers.Dependency()
    bus: providers.Dependency[EventBus] = providers.Dependency()
    metrics: providers.Dependency[HttpMetrics] = providers.Dependency()
    tracer: providers.Dependency[Tracer] = providers.Dependency()
    ready_checks: providers.Dependency[Mapping[str, Callable[[], None]]] = providers.Dependency()
    # The embedded server serves its files itself.
    blob_reader: providers.Dependency[SignedBlobReader | None] = providers.Dependency(
        default=providers.Object(None)
    )

    services = providers.Singleton(
        ApiServices,
        create_job=create_job,
        cancel_job=cancel_job,
        jobs=job_queries,
        models=model_queries,
        bus=bus,
        metrics=metrics,
        ready_checks=ready_checks,
        blob_reader=blob_reader,
        tracer=tracer,
    )
    app = providers.Singleton(
        build_app, services, providers.Callable(http_settings, settings, hosts, offload_blocking)
    )


def http_api_over(
    use_cases: providers.Container[Any],
    ports: providers.Container[Any],
    settings: providers.Provider[Settings],
    **more: Any,
) -> providers.Container[HttpApi]:
    """`HttpApi` over a deployment's use cases and ports; `more`: the Host names, the ready
    checks, and what differs between the servers."""
    queries = {
        name: getattr(use_cases, name)
        for name in ("create_job", "cancel_job", "job_queries", "model_queries")
    }
    return providers.Container(
        HttpApi,
        settings=settings,
        bus=ports.bus,
        metrics=ports.metrics,
        tracer=ports.tracing.provided.tracer,
        **queries,
        **more,
    )
