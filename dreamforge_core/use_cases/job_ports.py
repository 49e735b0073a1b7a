"""The ports a worker runs its jobs with: what every job type needs, and what generating adds.

The collaborators of a running job (`JobClaim`, `RunningJob`, `JobOutcome`, `RunnerReports`,
`StoreImage`) read the ports they need from these bundles.
"""

from __future__ import annotations

from dataclasses import dataclass

from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.clock import Clock
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


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPorts:
    """What every job type runs with: it claims, saves and publishes, counts, and stops."""

    repo: JobRepo
    queue: JobQueue
    bus: EventBus
    clock: Clock
    metrics: JobMetrics
    log_context: LogContext
    threads: Threads
    tracer: Tracer = NO_TRACER
    stop: StopSignal = NO_STOP


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateJobPorts(JobPorts):
    """What a `generate` job adds: the model, the runner, and where its images go."""

    registry: ModelRegistry
    runner: Runner
    encoder: ImageEncoder
    blobs: BlobStore
    seeds: SeedSource
