"""The production stack: `dreamforge api` and `dreamforge worker` on Postgres, Dramatiq on
Redis and S3. Both processes build the same shared parts; only the worker runs jobs."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dramatiq.brokers.redis import RedisBroker

from dreamforge_adapters.dramatiq_queue import (
    IO_QUEUE,
    DramatiqJobQueue,
    close_broker,
    make_broker,
)
from dreamforge_adapters.http import COUNTED_CODES
from dreamforge_adapters.postgres import (
    PostgresDatabase,
    PostgresEventBus,
    PostgresJobRepo,
    PostgresModelRegistry,
    check_schema,
)
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.s3 import S3BlobStore
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.models import ensure_builtin_models, validate_registry
from dreamforge_apps.settings import Settings
from dreamforge_apps.tracing import Tracing, TracingUnavailable, open_tracing
from dreamforge_core.domain.retry import RetryPolicy

log = logging.getLogger(__name__)


class StackNotConfigured(Exception):
    """Raised when a stack process lacks one of its three dependencies' settings, or asks for
    tracing without its packages."""


def require_stack(settings: Settings) -> None:
    missing = [
        name
        for name, value in (
            ("DREAMFORGE_DATABASE_URL", settings.database_url),
            ("DREAMFORGE_REDIS_URL", settings.redis_url),
            ("DREAMFORGE_S3_ENDPOINT", settings.s3_endpoint),
            ("DREAMFORGE_S3_ACCESS_KEY", settings.s3_access_key),
            ("DREAMFORGE_S3_SECRET_KEY", settings.s3_secret_key),
        )
        if not value
    ]
    if missing:
        raise StackNotConfigured(
            f"the stack needs {', '.join(missing)}; for a single process without "
            "infrastructure use `dreamforge serve`"
        )


@dataclass
class StackParts:
    """What API and worker processes share: the stores, the queue and the metrics."""

    database: PostgresDatabase
    repo: PostgresJobRepo
    registry: PostgresModelRegistry
    bus: PostgresEventBus
    blobs: S3BlobStore
    broker: RedisBroker
    queue: DramatiqJobQueue  # the GPU queue: generate jobs
    io_queue: DramatiqJobQueue  # the IO queue: model_download jobs (FR-098)
    metrics: PrometheusMetrics
    clock: SystemClock
    retry: RetryPolicy
    tracing: Tracing

    def ready_checks(self) -> dict[str, Callable[[], None]]:
        return {
            "database": self.database.ping,
            "redis": self.queue.ping,
            "storage": self.blobs.ping,
        }

    def close(self) -> None:
        for close in (
            self.tracing.close,
            self.bus.close,
            self.blobs.close,
            self.database.close,
            lambda: close_broker(self.broker),
        ):
            try:
                close()
            except Exception:  # closing the rest matters more than this one
                log.exception("error while closing")


def freeze_start_up_objects() -> None:
    """Moves everything built at start-up (modules, app, pools) out of the garbage collector's
    reach: it lives as long as the process, and full collections no longer walk it, which
    shortens the pauses they put into request and job latency."""
    gc.collect()
    gc.freeze()


def stack_broker(settings: Settings) -> RedisBroker:
    """A broker on the stack's Redis; a worker consuming a second queue makes a second one,
    so each queue has its own Dramatiq worker and threads."""
    return make_broker(
        settings.redis_url or "",
        namespace=settings.redis_namespace,
        heartbeat_timeout_ms=int(settings.worker_heartbeat_timeout_s * 1000),
    )


def open_stack(settings: Settings, *, listen: bool, service: str) -> StackParts:
    """Connects to Postgres (whose schema must be current), S3 (bucket ensured, private) and
    Redis. `listen` starts the LISTEN connection that feeds this process's SSE streams;
    `service` (`api`, `worker`) names the process in traces."""
    require_stack(settings)
    try:
        tracing = open_tracing(settings, service)
    except TracingUnavailable as e:
        raise StackNotConfigured(str(e)) from e
    dsn, endpoint = settings.database_url or "", settings.s3_endpoint or ""
    database = PostgresDatabase(dsn, max_size=settings.database_pool_size)
    database.open()
    check_schema(database)
    repo = PostgresJobRepo(database, announce=True)
    bus = PostgresEventBus(database, source=repo, announced_by_repo=True)
    if listen:
        bus.start()
    blobs = S3BlobStore(
        endpoint,
        settings.s3_access_key or "",
        settings.s3_secret_key or "",
        settings.s3_bucket,
        region=settings.s3_region,
        retention_days=settings.artifact_retention_days,
        public_endpoint=settings.s3_public_endpoint,
    )
    blobs.ensure_bucket()
    broker = stack_broker(settings)
    queue = DramatiqJobQueue(broker)
    metrics = PrometheusMetrics(extra_error_codes=COUNTED_CODES)
    io_queue = DramatiqJobQueue(broker, queue_name=IO_QUEUE)
    metrics.watch_store(repo.count_by_state, {"gpu": queue.depth, "io": io_queue.depth})
    retry = RetryPolicy(
        settings.max_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s
    )
    registry = PostgresModelRegistry(database)
    clock = SystemClock()
    ensure_builtin_models(settings.runner, registry, clock.now())
    validate_registry(registry, clock)
    return StackParts(
        database,
        repo,
        registry,
        bus,
        blobs,
        broker,
        queue,
        io_queue,
        metrics,
        clock,
        retry,
        tracing,
    )
