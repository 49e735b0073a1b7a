"""The use cases, wired once for every deployment.

Each deployment's container provides the ports (`Dependency` here, typed for the checker
only: a Protocol cannot be checked at run time) and the settings; the policies that the
settings fix (retries, limits, the default model) are providers here, so a test overrides one
of them, or a port, and keeps the rest of the wiring as it runs in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dependency_injector import containers, providers

from dreamforge_adapters.imaging import PillowImageEncoder, PillowInputReader
from dreamforge_adapters.inprocess.creation_rate import InProcessCreationRate
from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.system import RandomSeeds, SystemThreads
from dreamforge_adapters.webhooks.sender import HttpWebhooks
from dreamforge_apps import __version__
from dreamforge_apps.model_install import background_installer, partial_cleanup
from dreamforge_apps.runners import configured_default_model
from dreamforge_apps.settings import Settings
from dreamforge_apps.sources import download_jobs
from dreamforge_core.domain.job import MODEL_DOWNLOAD
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.domain.webhooks import WebhookRetry
from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.creation_rate import CreationRate
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.image_encoder import ImageEncoder
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.log_context import LogContext
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.runner import Runner
from dreamforge_core.ports.seed_source import SeedSource
from dreamforge_core.ports.stop_signal import NO_STOP, StopSignal
from dreamforge_core.ports.threads import Threads
from dreamforge_core.ports.tracer import NO_TRACER, Tracer
from dreamforge_core.ports.webhooks import WebhookOutbox, WebhookSender, WebhookTargets
from dreamforge_core.use_cases.caller_limits import CallerLimits, Limits
from dreamforge_core.use_cases.cancel_job import CancelJob
from dreamforge_core.use_cases.create_job import CreateJob
from dreamforge_core.use_cases.deliver_webhooks import DeliverWebhooks
from dreamforge_core.use_cases.job_inputs import JobInputs
from dreamforge_core.use_cases.model_routing import ModelRouting
from dreamforge_core.use_cases.queries import ArtifactLimits, JobQueries, ModelQueries
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from dreamforge_core.use_cases.run_download_job import DownloadJobPorts, RunDownloadJob
from dreamforge_core.use_cases.run_generate_job import GenerateJobPorts, JobLimits, RunGenerateJob


def _sweep_grace_s(settings: Settings) -> float:
    """A job stays untouched this long before a sweep may take it for lost: two passes."""
    return 2 * settings.sweep_interval_s


def _webhook_targets(
    settings: Settings, webhooks: Callable[[], WebhookTargets]
) -> WebhookTargets | None:
    """What checks a job's webhook at creation; None (webhooks refused) without a secret,
    and then no HTTP client is made."""
    return webhooks() if settings.webhook_key is not None else None


def _deliver_webhooks(
    settings: Settings,
    outbox: WebhookOutbox,
    sender: Callable[[], WebhookSender],
    bus: EventBus,
    clock: Clock,
    metrics: JobMetrics,
) -> DeliverWebhooks | None:
    key = settings.webhook_key
    if key is None:
        return None
    return DeliverWebhooks(
        outbox,
        sender(),
        bus,
        clock,
        metrics,
        key=key,
        retry=WebhookRetry(base_s=settings.webhook_retry_base_s),
        timeout_s=settings.webhook_timeout_s,
    )


def _sweeps(settings: Settings, generate: RecoverJobs, downloads: RecoverJobs) -> list[RecoverJobs]:
    return [generate, downloads] if settings.model_download_jobs else [generate]


class UseCases(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    # Ports: what a deployment provides.
    repo: providers.Dependency[JobRepo] = providers.Dependency()
    registry: providers.Dependency[ModelRegistry] = providers.Dependency()
    queue: providers.Dependency[JobQueue] = providers.Dependency()  # the GPU queue
    io_queue: providers.Dependency[JobQueue] = providers.Dependency()  # model_download jobs
    bus: providers.Dependency[EventBus] = providers.Dependency()
    blobs: providers.Dependency[BlobStore] = providers.Dependency()
    clock: providers.Dependency[Clock] = providers.Dependency()
    metrics: providers.Dependency[JobMetrics] = providers.Dependency()
    tracer: providers.Dependency[Tracer] = providers.Dependency(default=NO_TRACER)
    runner: providers.Dependency[Runner] = providers.Dependency()  # only where jobs run
    stop: providers.Dependency[StopSignal] = providers.Dependency(default=NO_STOP)
    encoder: providers.Dependency[ImageEncoder] = providers.Dependency(
        default=providers.Singleton(PillowImageEncoder)
    )
    seeds: providers.Dependency[SeedSource] = providers.Dependency(
        default=providers.Singleton(RandomSeeds)
    )
    log_context: providers.Dependency[LogContext] = providers.Dependency(
        default=providers.Singleton(StructlogContext)
    )
    threads: providers.Dependency[Threads] = providers.Dependency(
        default=providers.Singleton(SystemThreads)
    )
    creation_rate: providers.Dependency[CreationRate] = providers.Dependency(
        default=providers.Singleton(InProcessCreationRate)
    )
    outbox: providers.Dependency[WebhookOutbox] = providers.Dependency()
    # Where several workers share a queue: which queued job a turn takes (None: queue order).
    routing: providers.Dependency[ModelRouting | None] = providers.Dependency(
        default=providers.Object(None)
    )
    webhooks: providers.Dependency[HttpWebhooks] = providers.Dependency(
        default=providers.Singleton(
            HttpWebhooks, allow_private=settings.provided.webhook_allow_private
        )
    )

    # Policies the settings fix.
    retry = providers.Singleton(
        RetryPolicy,
        settings.provided.max_attempts,
        settings.provided.retry_base_delay_s,
        settings.provided.retry_max_delay_s,
    )
    generate_limits = providers.Singleton(
        JobLimits,
        step_timeout_s=settings.provided.step_timeout_s,
        progress_interval_s=settings.provided.progress_interval_s,
        lease_s=settings.provided.lease_s,
    )
    download_limits = providers.Singleton(
        JobLimits,
        step_timeout_s=settings.provided.download_timeout_s,
        lease_s=settings.provided.lease_s,
    )
    default_model_id = providers.Callable(configured_default_model, settings)
    generator = providers.Object(f"Dream Forge {__version__}")  # written into every image

    # The API's side.
    caller_limits = providers.Singleton(
        CallerLimits,
        creation_rate,
        repo,
        clock,
        providers.Singleton(
            Limits,
            per_minute=settings.provided.rate_limit_per_min,
            active_jobs=settings.provided.max_active_jobs_per_key,
        ),
    )
    create_job = providers.Singleton(
        CreateJob,
        repo,
        queue,
        registry,
        clock,
        default_model_id=default_model_id,
        idempotency_window_s=settings.provided.idempotency_window_s,
        downloads=providers.Callable(download_jobs, settings, io_queue),
        limits=caller_limits,
        webhooks=providers.Callable(_webhook_targets, settings, webhooks.provider),
        inputs=providers.Singleton(JobInputs, repo, blobs, providers.Singleton(PillowInputReader)),
    )
    cancel_job = providers.Singleton(CancelJob, repo, bus, clock)
    job_queries = providers.Singleton(
        JobQueries,
        repo,
        blobs,
        providers.Singleton(
            ArtifactLimits, settings.provided.artifact_ttl_s, settings.provided.artifact_ttl_max_s
        ),
    )
    model_queries = providers.Singleton(ModelQueries, registry)

    # The worker's side.
    generate_job_ports = providers.Singleton(
        GenerateJobPorts,
        repo=repo,
        queue=queue,
        bus=bus,
        registry=registry,
        runner=runner,
        encoder=encoder,
        blobs=blobs,
        clock=clock,
        seeds=seeds,
        metrics=metrics,
        log_context=log_context,
        threads=threads,
        tracer=tracer,
        stop=stop,
    )
    run_generate_job = providers.Singleton(
        RunGenerateJob,
        generate_job_ports,
        retry,
        generator=generator,
        limits=generate_limits,
        routing=routing,
    )
    run_download_job = providers.Singleton(
        RunDownloadJob,
        providers.Singleton(
            DownloadJobPorts,
            repo=repo,
            queue=io_queue,
            bus=bus,
            clock=clock,
            metrics=metrics,
            log_context=log_context,
            install=providers.Callable(background_installer, settings, registry),
            threads=threads,
            tracer=tracer,
            discard_partial=providers.Callable(partial_cleanup, settings),
        ),
        retry,
        download_limits,
    )

    # Webhooks: delivered from a thread pool of their own where jobs run (None: disabled).
    deliver_webhooks = providers.Singleton(
        _deliver_webhooks, settings, outbox, webhooks.provider, bus, clock, metrics
    )

    # Recovery: at the start of a process that owns every job (the embedded server), and the
    # sweeps that run while any worker runs.
    recover_abandoned = providers.Singleton(
        RecoverJobs, repo, queue, bus, clock, retry, assume_dead=True
    )
    recover_abandoned_downloads = providers.Singleton(
        RecoverJobs, repo, io_queue, bus, clock, retry, assume_dead=True, job_type=MODEL_DOWNLOAD
    )
    sweeps = providers.Callable(
        _sweeps,
        settings,
        providers.Singleton(
            RecoverJobs,
            repo,
            queue,
            bus,
            clock,
            retry,
            grace_s=providers.Callable(_sweep_grace_s, settings),
        ),
        providers.Singleton(
            RecoverJobs,
            repo,
            io_queue,
            bus,
            clock,
            retry,
            grace_s=providers.Callable(_sweep_grace_s, settings),
            job_type=MODEL_DOWNLOAD,
        ),
    )


#: The ports every deployment's container names as `UseCases` does.
SHARED_PORTS = (
    "repo", "registry", "queue", "io_queue", "bus", "blobs", "clock", "metrics", "creation_rate",
    "outbox",
)  # fmt: skip


def use_cases_over(
    ports: providers.Container[Any], settings: providers.Provider[Settings], **more: Any
) -> providers.Container[UseCases]:
    """`UseCases` over a deployment's ports container, which has the `SHARED_PORTS` and opens
    tracing as `tracing`; `more`: the ports only some processes have (the runner, the
    graceful stop)."""
    shared = {name: getattr(ports, name) for name in SHARED_PORTS}
    return providers.Container(
        UseCases, settings=settings, tracer=ports.tracing.provided.tracer, **shared, **more
    )
