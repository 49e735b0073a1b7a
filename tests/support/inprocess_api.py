"""The HTTP API as the containers build it for a deployment, over the in-memory ports: for the
cases that need no server process (validation, envelopes, statuses), run in this process.

The use cases and the app are wired by the same functions as every deployment's
(`use_cases_over`, `http_api_over`); only the ports container is this one. What only a server
shows (the guarded protocol, head and body deadlines, real stores, the worker) stays with the
end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from dependency_injector import containers, providers
from litestar import Litestar
from litestar.testing import TestClient

from dreamforge_adapters.http import COUNTED_CODES
from dreamforge_adapters.inprocess import InProcessEventBus, InProcessJobQueue
from dreamforge_adapters.inprocess.creation_rate import InProcessCreationRate
from dreamforge_adapters.memory import MemoryBlobStore, MemoryJobRepo, MemoryModelRegistry
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.bootstrap.http_api import http_api_over
from dreamforge_apps.bootstrap.use_cases import use_cases_over
from dreamforge_apps.models import fake_model
from dreamforge_apps.settings import Settings
from dreamforge_apps.tracing import Tracing
from dreamforge_core.domain.clock import utc_now
from dreamforge_core.ports.tracer import NO_TRACER


def _fake_models() -> list[Any]:
    return [fake_model(utc_now())]


class MemoryPorts(containers.DeclarativeContainer):
    repo = providers.Singleton(MemoryJobRepo)
    outbox = repo  # the memory store is its own outbox, as a database holds both
    registry = providers.Singleton(MemoryModelRegistry, providers.Callable(_fake_models))
    queue = providers.Singleton(InProcessJobQueue)  # never started: a created job stays queued
    io_queue = providers.Singleton(InProcessJobQueue)
    bus = providers.Singleton(InProcessEventBus)
    blobs = providers.Singleton(MemoryBlobStore)
    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(PrometheusMetrics, extra_error_codes=COUNTED_CODES)
    creation_rate = providers.Singleton(InProcessCreationRate)
    tracing = providers.Object(Tracing(NO_TRACER, lambda: None))


class InProcess(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    ports = providers.Container(MemoryPorts)
    use_cases = use_cases_over(ports, settings)
    http = http_api_over(use_cases, ports, settings, ready_checks={})


@dataclass
class InProcessApi:
    client: TestClient[Any]
    repo: MemoryJobRepo
    blobs: MemoryBlobStore

    def job_count(self) -> int:
        return sum(self.repo.count_by_state().values())


@contextmanager
def inprocess_api(settings: Settings | None = None) -> Iterator[InProcessApi]:
    deployment = InProcess(settings=settings or Settings(runner="fake"))
    app = cast(Litestar, deployment.http.app())  # the edge layer around it is ASGI all the same
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield InProcessApi(client, deployment.ports.repo(), deployment.ports.blobs())
