"""The production stack: `dreamforge api` and `dreamforge worker` on Postgres, Dramatiq on
Redis and S3. Both processes open the same ports (`StackPorts`); only the worker runs jobs."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import redis
from dependency_injector import containers, providers
from dramatiq.brokers.redis import RedisBroker

from dreamforge_adapters.dramatiq_queue import IO_QUEUE, DramatiqJobQueue, close_broker, make_broker
from dreamforge_adapters.http import COUNTED_CODES, LoopbackHosts
from dreamforge_adapters.http.webhook_bodies import ApiWebhookBodies
from dreamforge_adapters.postgres import PostgresDatabase, PostgresJobRepo
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.redis_rate import RedisCreationRate
from dreamforge_adapters.s3 import S3BlobStore
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.bootstrap import resources
from dreamforge_apps.bootstrap.http_api import http_api_over
from dreamforge_apps.bootstrap.postgres_stores import PostgresStores
from dreamforge_apps.bootstrap.resources import ConfigurationError
from dreamforge_apps.bootstrap.use_cases import use_cases_over
from dreamforge_apps.models import checked_registry
from dreamforge_apps.settings import Settings
from dreamforge_apps.webhook_deliverer import Doorbell


class StackNotConfigured(ConfigurationError):
    """Raised when a stack process lacks one of its three dependencies' settings."""


def require_stack(settings: Settings) -> Settings:
    """The settings, when they name the stack's three dependencies."""
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
    return settings


def freeze_start_up_objects() -> None:
    """Moves everything built at start-up (modules, app, pools) out of the garbage collector's
    reach: it lives as long as the process, and full collections no longer walk it, which
    shortens the pauses they put into request and job latency."""
    gc.collect()
    gc.freeze()


def open_broker(settings: Settings) -> RedisBroker:
    """A broker on the stack's Redis; a worker consuming a second queue opens a second one,
    so each queue has its own Dramatiq worker and threads."""
    return make_broker(
        settings.redis_url or "",
        namespace=settings.redis_namespace,
        heartbeat_timeout_ms=int(settings.worker_heartbeat_timeout_s * 1000),
    )


def stack_broker(settings: Settings) -> Iterator[RedisBroker]:
    broker = open_broker(settings)
    yield broker
    close_broker(broker)


def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    """A client for what the API keeps in Redis besides the queues: the creation counters."""
    client = redis.Redis.from_url(
        settings.redis_url or "", socket_timeout=2, socket_connect_timeout=2
    )
    yield client
    client.close()


def blob_store(settings: Settings) -> Iterator[S3BlobStore]:
    """The artifact bucket, ensured to exist and to be private."""
    blobs = S3BlobStore(
        settings.s3_endpoint or "",
        settings.s3_access_key or "",
        settings.s3_secret_key or "",
        settings.s3_bucket,
        region=settings.s3_region,
        retention_days=settings.artifact_retention_days,
        public_endpoint=settings.s3_public_endpoint,
    )
    blobs.ensure_bucket()
    yield blobs
    blobs.close()


def stack_metrics(
    repo: PostgresJobRepo, queue: DramatiqJobQueue, io_queue: DramatiqJobQueue, runs_jobs: bool
) -> PrometheusMetrics:
    metrics = PrometheusMetrics(extra_error_codes=COUNTED_CODES)
    if runs_jobs:  # the series of job outcomes start at zero where jobs run, and only there
        metrics.count_jobs_here()
    metrics.watch_store(repo.count_by_state, {"gpu": queue.depth, "io": io_queue.depth})
    return metrics


def stack_ready_checks(
    database: PostgresDatabase, queue: DramatiqJobQueue, blobs: S3BlobStore
) -> dict[str, Callable[[], None]]:
    return {"database": database.ping, "redis": queue.ping, "storage": blobs.ping}


class StackPorts(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    service = providers.Dependency(instance_of=str)  # `api` or `worker`, its name in traces
    listen = providers.Dependency(instance_of=bool)  # feeds this process's SSE streams
    runs_jobs = providers.Dependency(instance_of=bool)

    checked_settings = providers.Callable(require_stack, settings)
    tracing = providers.Resource(resources.tracing, checked_settings, service)
    blobs = providers.Resource(blob_store, checked_settings)
    doorbell = providers.Singleton(Doorbell)  # rung by this process's writes with messages
    stores = providers.Container(
        PostgresStores,
        dsn=checked_settings.provided.database_url,
        pool_size=settings.provided.database_pool_size,
        listen=listen,
        # artifact URLs in webhook bodies are S3's, as in the API's answers
        webhook_bodies=providers.Singleton(
            ApiWebhookBodies, blobs, "", settings.provided.artifact_ttl_s
        ),
        messages_stored=doorbell.provided.ring,
    )
    database = stores.database
    repo = stores.repo
    outbox = stores.outbox
    bus = stores.bus
    clock = providers.Singleton(SystemClock)
    registry = providers.Singleton(
        checked_registry, stores.registry, settings.provided.runner, clock
    )
    broker = providers.Resource(stack_broker, checked_settings)
    queue = providers.Singleton(DramatiqJobQueue, broker)  # the GPU queue: generate jobs
    io_queue = providers.Singleton(DramatiqJobQueue, broker, queue_name=IO_QUEUE)
    metrics = providers.Singleton(stack_metrics, repo, queue, io_queue, runs_jobs)
    creation_rate = providers.Singleton(
        RedisCreationRate,
        providers.Resource(redis_client, checked_settings),
        settings.provided.redis_namespace,
    )
    ready_checks = providers.Callable(stack_ready_checks, database, queue, blobs)


class StackApi(containers.DeclarativeContainer):
    """`dreamforge api`: stateless, as many replicas as needed."""

    settings = providers.Dependency(instance_of=Settings)
    hosts: providers.Dependency[LoopbackHosts | None] = providers.Dependency(
        default=providers.Object(None)
    )

    ports = providers.Container(
        StackPorts, settings=settings, service="api", listen=True, runs_jobs=False
    )
    use_cases = use_cases_over(ports, settings)
    http = http_api_over(
        use_cases,
        ports,
        settings,
        hosts=hosts,
        offload_blocking=True,
        ready_checks=ports.ready_checks,
    )
