"""`dreamforge worker`: runs jobs from the GPU queue, one process per GPU.

Besides the GPU queue's consumer it runs a sweeper (jobs stored but never enqueued, jobs whose
worker died) and a small HTTP server with /health, /ready and /metrics. With model download
jobs enabled it also consumes the IO queue, with its own broker and threads, so a download
never waits for a GPU job and never holds the GPU thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping

import uvicorn
from dependency_injector import containers, providers
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker

from dreamforge_adapters.dramatiq_queue import (
    IO_QUEUE,
    RedisWarmRoster,
    close_broker,
    declare_job_actor,
    start_worker,
)
from dreamforge_adapters.http import OpsServices, build_ops_app
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.system import SystemThreads
from dreamforge_apps.bootstrap import resources
from dreamforge_apps.bootstrap.stack import StackPorts, open_broker
from dreamforge_apps.bootstrap.use_cases import use_cases_over
from dreamforge_apps.drain import Drain
from dreamforge_apps.http_server import served_hosts, uvicorn_config
from dreamforge_apps.model_install import sweep_abandoned_downloads
from dreamforge_apps.settings import Settings
from dreamforge_core.ports.runner import Runner
from dreamforge_core.use_cases.run_download_job import RunDownloadJob
from dreamforge_core.use_cases.run_generate_job import RunGenerateJob

# Dramatiq's own time limit is a backstop above the core's step timeout, which does the work.
TIME_LIMIT_MARGIN_S = 120


def _time_limit_ms(timeout_s: float) -> int:
    return int((timeout_s + TIME_LIMIT_MARGIN_S) * 1000)


def gpu_consumer(
    settings: Settings,
    broker: RedisBroker,
    execute: RunGenerateJob,
    runner: Runner,
    drain: Drain,
) -> Iterator[Worker]:
    """Warms the runner, then consumes the GPU queue on one thread. Stopping gives the job in
    progress the drain window; prefetched messages go back to the queue."""
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        warm_up()
    declare_job_actor(broker, execute, time_limit_ms=_time_limit_ms(settings.step_timeout_s))
    worker = start_worker(broker, threads=1, poll_ms=settings.worker_poll_ms)
    yield worker
    drain.begin()
    worker.stop(timeout=int(drain.join_timeout_s * 1000))
    drain.end()  # the job thread has returned, or was given up on: kill nothing now


def io_consumer(settings: Settings, execute: RunDownloadJob) -> Iterator[Worker | None]:
    """The IO queue's consumer, when model_download jobs are enabled, on a broker of its own."""
    if not settings.model_download_jobs:
        yield None
        return
    sweep_abandoned_downloads(settings)  # before any download of this process starts
    broker = open_broker(settings)
    declare_job_actor(
        broker,
        execute,
        queue_name=IO_QUEUE,
        time_limit_ms=_time_limit_ms(settings.download_timeout_s),
    )
    worker = start_worker(
        broker,
        queues=(IO_QUEUE,),
        threads=settings.io_worker_threads,
        poll_ms=settings.worker_poll_ms,
    )
    yield worker
    worker.stop(timeout=10_000)  # a download resumes where it stopped
    close_broker(broker)


def ops_server(
    settings: Settings,
    metrics: PrometheusMetrics,
    checks: Mapping[str, Callable[[], None]],
) -> Iterator[uvicorn.Server]:
    """/health, /ready and /metrics on their own thread. API keys never guard this port, so
    only its bind decides the Host check."""
    hosts = served_hosts(settings.worker_http_host, settings, keys_guard=False)
    app = build_ops_app(OpsServices(metrics, checks), hosts)
    server = uvicorn.Server(
        uvicorn_config(app, settings.worker_http_host, settings.worker_http_port, settings)
    )
    thread = threading.Thread(target=server.run, name="dreamforge-ops-http", daemon=True)
    thread.start()
    yield server
    # An event loop still running while the interpreter finalises can crash the process at
    # exit (SIGSEGV): the server stops, and is waited for, before anything else closes.
    server.should_exit = True
    thread.join(5)


class StackWorker(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    ports = providers.Container(
        StackPorts, settings=settings, service="worker", listen=False, runs_jobs=True
    )
    runner = providers.Resource(resources.runner, settings)
    drain = providers.Singleton(Drain, settings.provided.drain_timeout_s, runner)
    routing = providers.Resource(
        resources.model_routing,
        settings,
        providers.Singleton(
            RedisWarmRoster, ports.broker.provided.client, settings.provided.redis_namespace
        ),
        providers.Singleton(SystemThreads),
    )
    use_cases = use_cases_over(ports, settings, runner=runner, stop=drain, routing=routing)
    ops = providers.Resource(ops_server, settings, ports.metrics, ports.ready_checks)
    sweeper = providers.Resource(resources.sweeper, use_cases.sweeps, settings)
    io = providers.Resource(io_consumer, settings, use_cases.run_download_job)
    webhooks = providers.Resource(
        resources.webhook_deliverer, use_cases.deliver_webhooks, ports.doorbell
    )
    gpu = providers.Resource(
        gpu_consumer, settings, ports.broker, use_cases.run_generate_job, runner, drain
    )
