"""Wiring for core use-case tests: the in-memory fakes plus tiny runner/encoder doubles.

`Harness` is the production composition of the use cases (`UseCases`) with its ports
overridden by the fakes; tests drive it and assert on what the repo, queue, blob store and
runner saw.

It is one module because pytest finds the core tests' fixtures here, beside the doubles they
hand out.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from dreamforge_adapters.http.webhook_bodies import ApiWebhookBodies
from dreamforge_adapters.inprocess import InProcessEventBus, InProcessJobQueue
from dreamforge_adapters.memory import (
    ManualClock,
    MemoryBlobStore,
    MemoryJobRepo,
    MemoryModelRegistry,
    RecordingLogContext,
    ScriptedSeeds,
)
from dreamforge_adapters.system import NoMetrics
from dreamforge_apps.bootstrap.use_cases import UseCases
from dreamforge_apps.settings import Settings
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.log_context import LogContext
from dreamforge_core.ports.runner import GeneratedImage, GenerationRequest, RunnerListener
from dreamforge_core.ports.stop_signal import NO_STOP, StopSignal
from dreamforge_core.ports.tracer import NO_TRACER, Tracer
from dreamforge_core.use_cases.caller_limits import Limits
from dreamforge_core.use_cases.cancel_job import CancelJob
from dreamforge_core.use_cases.create_job import CreateJob, CreateJobCommand, CreateJobResult
from dreamforge_core.use_cases.deliver_webhooks import DeliverWebhooks
from dreamforge_core.use_cases.run_generate_job import GenerateJobPorts, JobLimits, RunGenerateJob

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NO_LIMITS = Limits()
MODEL_ID = "epicrealism-xl"
CHECKPOINT_HASH = "0123456789abcdef" * 4
IDEMPOTENCY_WINDOW_S = 3600.0

# Small images and few steps keep each generated item cheap.
SMALL = {"width": 256, "height": 256, "steps": 3}


def make_model(**overrides: Any) -> ModelDescriptor:
    values: dict[str, Any] = {
        "id": MODEL_ID,
        "name": "EpicRealism XL",
        "kind": "fake",
        "version": "1",
        "created_at": T0,
        "updated_at": T0,
        "checkpoint_hash": CHECKPOINT_HASH,
        "installed": True,
    }
    values.update(overrides)
    return ModelDescriptor(**values)


class StubRunner:
    """Reports each denoising step and returns black pixels of the asked size.

    `fail_on(index, exc, times)` makes the next `times` generations of that item raise `exc`
    (times=None: every time). Every call is logged, so tests can see what was regenerated.
    """

    def __init__(self, log: list[tuple[str, int]] | None = None) -> None:
        self.calls: list[GenerationRequest] = []
        self.log = log
        self.before_generate: Callable[[GenerationRequest], None] | None = None
        self._failures: dict[int, list[Any]] = {}

    def fail_on(self, index: int, exc: BaseException, times: int | None = 1) -> None:
        self._failures[index] = [exc, times]

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        self.calls.append(request)
        if self.log is not None:
            self.log.append(("generate", request.item_index))
        if self.before_generate is not None:
            self.before_generate(request)
        failure = self._failures.get(request.item_index)
        if failure is not None:
            exc, times = failure
            if times is None or times > 0:
                if times is not None:
                    failure[1] = times - 1
                raise exc
        total = request.params.steps
        for done in range(1, total + 1):
            listener.step(done, total)
        width, height = request.params.width, request.params.height
        return GeneratedImage(width, height, bytes(width * height * 3))

    def close(self) -> None:
        return None

    @property
    def indices(self) -> list[int]:
        return [c.item_index for c in self.calls]


class StubEncoder:
    """Returns bytes that depend on the seed, so every artifact has its own sha256."""

    def __init__(self) -> None:
        self.metadata: list[ImageMetadata | None] = []

    def encode(self, image: GeneratedImage, fmt: str, metadata: ImageMetadata | None) -> bytes:
        self.metadata.append(metadata)
        text = metadata.a1111_parameters() if metadata else ""
        return f"{fmt}:{image.width}x{image.height}:{text}".encode()


class RecordingQueue(InProcessJobQueue):
    """The in-process queue, remembering every enqueue with its delay."""

    def __init__(self, handler: Callable[[str], None]) -> None:
        super().__init__(handler)
        self.enqueued: list[tuple[str, float]] = []

    def enqueue(self, job_id: str, delay_s: float = 0.0) -> None:
        self.enqueued.append((job_id, delay_s))
        super().enqueue(job_id, delay_s)

    def restart(self) -> None:
        """Forgets every message, as the in-process queue does when its process restarts."""
        with self._cond:
            self._heap.clear()
        self.enqueued.clear()

    def pending(self) -> int:
        depth = self.depth()
        return depth["ready"] + depth["delayed"]


@dataclass
class WebhookPorts:
    """What a harness with webhooks needs: the signing secret, and what checks targets and
    sends (a recording fake)."""

    secret: str
    sender: Any


@dataclass
class Harness:
    repo: MemoryJobRepo
    queue: RecordingQueue
    bus: InProcessEventBus
    registry: MemoryModelRegistry
    blobs: MemoryBlobStore
    clock: ManualClock
    seeds: ScriptedSeeds
    runner: StubRunner
    encoder: StubEncoder
    retry: RetryPolicy
    create_job: CreateJob
    cancel_job: CancelJob
    execute_job: RunGenerateJob
    ports: GenerateJobPorts
    deliver_webhooks: DeliverWebhooks | None

    def create(self, key: str | None = None, body: Any = None, **params: Any) -> CreateJobResult:
        """Creates a job; `params` go into a body of small defaults unless `body` is given."""
        if body is None:
            body = {"params": {"prompt": "a lighthouse at dusk", **SMALL, **params}}
        return self.create_job(CreateJobCommand(body=body, idempotency_key=key))

    def execute(self, job_id: str) -> None:
        self.execute_job(job_id)

    def job(self, job_id: str) -> Job:
        job = self.repo.get(job_id)
        assert job is not None
        return job

    def events(self, job_id: str) -> list[Event]:
        return self.repo.events(job_id)

    def codes(self, job_id: str) -> list[str]:
        return [e.code for e in self.events(job_id)]

    def settle(self, max_wait_s: float = 5.0) -> None:
        """Delivers until the queue is empty, moving the manual clock past each retry time.

        Retry delays are real (small) delays in the in-process queue, so this waits for them.
        """
        deadline = time.monotonic() + max_wait_s
        while True:
            self.queue.run_due()
            if self.queue.pending() == 0:
                return
            assert time.monotonic() < deadline, "queue did not drain"
            self.clock.advance(3600)
            time.sleep(0.002)

    def job_count(self) -> int:
        return sum(self.repo.count_by_state().values())


def build_harness(
    *,
    seeds: ScriptedSeeds | None = None,
    runner: StubRunner | None = None,
    blobs: MemoryBlobStore | None = None,
    retry: RetryPolicy | None = None,
    models: Iterable[ModelDescriptor] | None = None,
    default_model_id: str | None = MODEL_ID,
    log_context: LogContext | None = None,
    tracer: Tracer = NO_TRACER,
    stop: StopSignal = NO_STOP,
    metrics: JobMetrics | None = None,
    limits: Limits = NO_LIMITS,
    webhooks: WebhookPorts | None = None,
) -> Harness:
    """The use cases as every deployment wires them, with the in-memory ports. With
    `webhooks` (their secret and a recording sender) jobs may ask for a webhook. It is long
    because it names every port the container takes, as the deployments' containers do."""

    def deliver(job_id: str) -> None:
        execute_job(job_id)  # run_due() delivers on the test thread; no worker threads

    queue = RecordingQueue(deliver)
    blobs = blobs or MemoryBlobStore()
    repo = MemoryJobRepo(webhook_bodies=ApiWebhookBodies(blobs, "http://test", 3600))
    use_cases = UseCases(
        settings=Settings(
            idempotency_window_s=IDEMPOTENCY_WINDOW_S,
            rate_limit_per_min=limits.per_minute,
            max_active_jobs_per_key=limits.active_jobs,
            webhook_secret=webhooks.secret if webhooks else None,
            webhook_retry_base_s=1.0,
        ),
        repo=repo,
        outbox=repo,
        registry=MemoryModelRegistry(list(models) if models is not None else [make_model()]),
        queue=queue,
        io_queue=queue,
        bus=InProcessEventBus(),
        blobs=blobs,
        clock=ManualClock(T0),
        metrics=metrics or NoMetrics(),
        tracer=tracer,
        runner=runner or StubRunner(),
        stop=stop,
        encoder=StubEncoder(),
        seeds=seeds or ScriptedSeeds(itertools.count(1000)),
        log_context=log_context or RecordingLogContext(),
        **({"webhooks": webhooks.sender} if webhooks else {}),
    )
    # Small real delays: the in-process queue waits on the monotonic clock, not the manual one.
    use_cases.retry.override(
        retry or RetryPolicy(max_attempts=3, base_delay_s=0.02, max_delay_s=0.08)
    )
    use_cases.generate_limits.override(JobLimits(progress_interval_s=0.0))
    use_cases.default_model_id.override(default_model_id)
    use_cases.generator.override("dreamforge-test")
    execute_job = use_cases.run_generate_job()
    ports = use_cases.generate_job_ports()
    return Harness(
        repo=cast(MemoryJobRepo, ports.repo),
        queue=queue,
        bus=cast(InProcessEventBus, ports.bus),
        registry=cast(MemoryModelRegistry, ports.registry),
        blobs=cast(MemoryBlobStore, ports.blobs),
        clock=cast(ManualClock, ports.clock),
        seeds=cast(ScriptedSeeds, ports.seeds),
        runner=cast(StubRunner, ports.runner),
        encoder=cast(StubEncoder, ports.encoder),
        retry=use_cases.retry(),
        create_job=use_cases.create_job(),
        cancel_job=use_cases.cancel_job(),
        ports=ports,
        execute_job=execute_job,
        deliver_webhooks=use_cases.deliver_webhooks(),
    )


@pytest.fixture
def harness() -> Harness:
    return build_harness()


HarnessFactory = Callable[..., Harness]


@pytest.fixture(scope="session")
def make_harness() -> HarnessFactory:
    """A factory, for tests that need their own wiring or one harness per hypothesis example."""
    return build_harness
