"""What executing a job needs: its ports, its limits and the settings of one worker."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from dreamforge_core.domain.job import Job
from dreamforge_core.domain.presets import Preset
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
from dreamforge_core.ports.tracer import NO_TRACER, Tracer
from dreamforge_core.use_cases.lease_keeper import LeaseKeeper


@dataclass(frozen=True, slots=True)
class ExecutionPorts:
    repo: JobRepo
    queue: JobQueue
    bus: EventBus
    registry: ModelRegistry
    runner: Runner
    encoder: ImageEncoder
    blobs: BlobStore
    clock: Clock
    seeds: SeedSource
    metrics: JobMetrics
    log_context: LogContext
    tracer: Tracer = NO_TRACER
    stop: StopSignal = NO_STOP


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ExecutionLimits:
    step_timeout_s: float = 1800.0
    progress_interval_s: float = 0.1  # at most one stored progress event per item this often
    lease_s: float = 60.0  # a running job whose lease lapses this long is presumed abandoned
    worker_id: str = field(default_factory=_default_worker_id)


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """Everything one attempt needs from the use case that started it."""

    ports: ExecutionPorts
    limits: ExecutionLimits
    generator: str
    presets: Mapping[str, Preset]
    leases: LeaseKeeper


def job_duration(job: Job) -> float:
    end = job.finished_at or job.updated_at
    return (end - job.created_at).total_seconds()
