"""The HTTP API as the containers build it for a deployment, over the in-memory ports: for the
cases that need no server process (validation, envelopes, statuses), run in this process.

What only a server shows (the guarded protocol, head and body deadlines, real stores, the
worker) stays with the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from litestar import Litestar
from litestar.testing import TestClient

from dreamforge_adapters.http import COUNTED_CODES
from dreamforge_adapters.inprocess import InProcessEventBus, InProcessJobQueue
from dreamforge_adapters.memory import MemoryBlobStore, MemoryJobRepo, MemoryModelRegistry
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.bootstrap.http_api import HttpApi
from dreamforge_apps.bootstrap.use_cases import UseCases
from dreamforge_apps.models import fake_model
from dreamforge_apps.settings import Settings
from dreamforge_core.domain.clock import utc_now


@dataclass
class InProcessApi:
    client: TestClient[Any]
    repo: MemoryJobRepo
    queue: InProcessJobQueue  # never started: a created job stays queued

    def job_count(self) -> int:
        return sum(self.repo.count_by_state().values())


@contextmanager
def inprocess_api(settings: Settings | None = None) -> Iterator[InProcessApi]:
    settings = settings or Settings(runner="fake")
    repo, queue, bus = MemoryJobRepo(), InProcessJobQueue(), InProcessEventBus()
    blobs = MemoryBlobStore()
    metrics = PrometheusMetrics(extra_error_codes=COUNTED_CODES)
    use_cases = UseCases(
        settings=settings,
        repo=repo,
        registry=MemoryModelRegistry([fake_model(utc_now())]),
        queue=queue,
        io_queue=InProcessJobQueue(),
        bus=bus,
        blobs=blobs,
        clock=SystemClock(),
        metrics=metrics,
    )
    http = HttpApi(
        settings=settings,
        create_job=use_cases.create_job,
        cancel_job=use_cases.cancel_job,
        job_queries=use_cases.job_queries,
        model_queries=use_cases.model_queries,
        bus=bus,
        metrics=metrics,
        tracer=use_cases.tracer,
        ready_checks={},
    )
    app = cast(Litestar, http.app())  # the edge layer around it is an ASGI app all the same
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield InProcessApi(client, repo, queue)
