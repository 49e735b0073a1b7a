"""`dreamforge worker`: runs jobs from the GPU queue, one process per GPU.

Besides the Dramatiq consumer it runs a sweeper (jobs stored but never enqueued, jobs whose
worker died) and a small HTTP server with /health, /ready and /metrics. SIGTERM or SIGINT
drains it: the job in progress finishes its image within the drain window, goes back to the
queue without counting an attempt, and the process exits. With model download
jobs enabled it also consumes the IO queue, with its own broker and threads, so a download
never waits for a GPU job and never holds the GPU thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import uvicorn
from dramatiq import Worker

from dreamforge_adapters.dramatiq_queue import (
    IO_QUEUE,
    DramatiqJobQueue,
    close_broker,
    declare_job_actor,
    run_worker,
    start_worker,
)
from dreamforge_adapters.http import OpsServices, build_ops_app
from dreamforge_adapters.imaging import PillowImageEncoder
from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.system import RandomSeeds, SystemThreads
from dreamforge_apps import __version__
from dreamforge_apps.drain import Drain
from dreamforge_apps.model_install import (
    background_installer,
    partial_cleanup,
    sweep_abandoned_downloads,
)
from dreamforge_apps.runners import build_runner
from dreamforge_apps.serve import served_hosts, uvicorn_config
from dreamforge_apps.settings import Settings
from dreamforge_apps.stack import StackParts, freeze_start_up_objects, open_stack, stack_broker
from dreamforge_apps.sweeper import Sweeper
from dreamforge_core.domain.job import MODEL_DOWNLOAD
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from dreamforge_core.use_cases.run_download_job import DownloadJobPorts, RunDownloadJob
from dreamforge_core.use_cases.run_generate_job import GenerateJobPorts, JobLimits, RunGenerateJob

log = logging.getLogger(__name__)

# Dramatiq's own time limit is a backstop above the core's step timeout, which does the work.
TIME_LIMIT_MARGIN_S = 120


class _IoConsumer:
    """The IO queue's consumer in a worker process: model_download jobs (FR-098)."""

    def __init__(self, settings: Settings, parts: StackParts) -> None:
        self._settings = settings
        self.broker = stack_broker(settings)
        self.queue = DramatiqJobQueue(self.broker, queue_name=IO_QUEUE)
        limits = JobLimits(step_timeout_s=settings.download_timeout_s, lease_s=settings.lease_s)
        execute = RunDownloadJob(
            DownloadJobPorts(
                repo=parts.repo,
                queue=self.queue,
                bus=parts.bus,
                clock=parts.clock,
                metrics=parts.metrics,
                log_context=StructlogContext(),
                install=background_installer(settings, parts.registry),
                threads=SystemThreads(),
                tracer=parts.tracing.tracer,
                discard_partial=partial_cleanup(settings),
            ),
            parts.retry,
            limits,
        )
        declare_job_actor(
            self.broker,
            execute,
            queue_name=IO_QUEUE,
            time_limit_ms=int((settings.download_timeout_s + TIME_LIMIT_MARGIN_S) * 1000),
        )
        self.recover = RecoverJobs(
            parts.repo,
            self.queue,
            parts.bus,
            parts.clock,
            parts.retry,
            grace_s=2 * settings.sweep_interval_s,
            job_type=MODEL_DOWNLOAD,
        )
        self._worker: Worker | None = None

    def start(self) -> None:
        settings = self._settings
        sweep_abandoned_downloads(settings)  # before any download of this process starts
        self._worker = start_worker(
            self.broker,
            queues=(IO_QUEUE,),
            threads=settings.io_worker_threads,
            poll_ms=settings.worker_poll_ms,
        )

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop(timeout=10_000)  # a download resumes where it stopped
        close_broker(self.broker)


def _ops_server(settings: Settings, parts: StackParts, runner: Any) -> uvicorn.Server:
    checks = parts.ready_checks()
    # API keys never guard this port, so only its bind decides the Host check
    hosts = served_hosts(settings.worker_http_host, settings, keys_guard=False)
    app = build_ops_app(OpsServices(parts.metrics, checks), hosts)
    return uvicorn.Server(
        uvicorn_config(app, settings.worker_http_host, settings.worker_http_port, settings)
    )


def run_worker_process(settings: Settings) -> None:
    parts = open_stack(settings, listen=False, service="worker")
    parts.metrics.count_jobs_here()
    runner = build_runner(settings)
    stop = threading.Event()
    drain = Drain(settings.drain_timeout_s, runner)
    io: _IoConsumer | None = None
    ops: uvicorn.Server | None = None
    ops_thread: threading.Thread | None = None
    try:
        limits = JobLimits(
            step_timeout_s=settings.step_timeout_s,
            progress_interval_s=settings.progress_interval_s,
            lease_s=settings.lease_s,
        )
        execute = RunGenerateJob(
            GenerateJobPorts(
                repo=parts.repo,
                queue=parts.queue,
                bus=parts.bus,
                registry=parts.registry,
                runner=runner,
                encoder=PillowImageEncoder(),
                blobs=parts.blobs,
                clock=parts.clock,
                seeds=RandomSeeds(),
                metrics=parts.metrics,
                log_context=StructlogContext(),
                threads=SystemThreads(),
                tracer=parts.tracing.tracer,
                stop=drain,
            ),
            parts.retry,
            generator=f"Dream Forge {__version__}",
            limits=limits,
        )
        declare_job_actor(
            parts.broker,
            execute,
            time_limit_ms=int((settings.step_timeout_s + TIME_LIMIT_MARGIN_S) * 1000),
        )
        recovers = [
            RecoverJobs(
                parts.repo,
                parts.queue,
                parts.bus,
                parts.clock,
                parts.retry,
                grace_s=2 * settings.sweep_interval_s,
            )
        ]
        if settings.model_download_jobs:
            io = _IoConsumer(settings, parts)
            recovers.append(io.recover)
        sweeper = Sweeper(recovers, settings.sweep_interval_s)
        sweeper.start()
        ops = _ops_server(settings, parts, runner)
        ops_thread = threading.Thread(target=ops.run, name="dreamforge-ops-http", daemon=True)
        ops_thread.start()
        warm_up = getattr(runner, "warm_up", None)
        if warm_up is not None:
            warm_up()

        def begin_stop(*_: object) -> None:
            drain.begin()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, begin_stop)
        if io is not None:
            io.start()
        freeze_start_up_objects()
        log.info(
            "Dream Forge worker %s consuming the GPU queue (runner=%s)%s",
            limits.worker_id,
            settings.runner,
            f" and the IO queue ({settings.io_worker_threads} thread(s))" if io else "",
        )
        run_worker(
            parts.broker,
            stop=stop,
            threads=1,
            poll_ms=settings.worker_poll_ms,
            shutdown_timeout_s=drain.join_timeout_s,
        )
        sweeper.stop()
    finally:
        if ops is not None:
            # An event loop still running while the interpreter finalises can crash the
            # process at exit (SIGSEGV): the ops server stops, and is waited for, first.
            ops.should_exit = True
            if ops_thread is not None:
                ops_thread.join(5)
        stop.set()
        drain.end()  # the job thread has returned, or was given up on: kill nothing now
        if io is not None:
            io.close()
        runner.close()
        parts.close()
