from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta

from dreamforge_core.domain.artifact import CONTENT_TYPES, Artifact, artifact_key, job_prefix
from dreamforge_core.domain.clock import new_id
from dreamforge_core.domain.job import ErrorInfo, Job, JobState
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import (
    ConcurrentUpdate,
    DreamForgeError,
    InvalidInput,
    StorageError,
)
from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.image_encoder import ImageEncoder
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.runner import GenerationRequest, Runner
from dreamforge_core.ports.seed_source import SeedSource

# Codes whose failure marks a poisoned message: it goes to the dead-letter queue.
_POISON = frozenset({"internal"})


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


class ExecuteJob:
    """Runs one delivery of a job id.

    Rules:
    - a job that is missing, finished or held by another worker is left alone (redelivery is a
      no-op); a job whose retry time has not come is put back on the queue for later;
    - the job is claimed with one optimistic update (`queued → running`); losing the race means
      another worker has it;
    - items run in order from the first unfinished one; each item's seed is drawn immediately
      before it starts (a given seed is used only when count is 1); finished items keep their
      artifacts, and blobs a crashed attempt left without an artifact row are deleted;
    - a failure is classified by its code: transient classes are retried with backoff until
      the attempts run out, then the job fails; a failed job whose cause was unexpected
      (`internal`), or whose transient retries ran out, is dead-lettered.
    """

    def __init__(
        self,
        ports: ExecutionPorts,
        retry: RetryPolicy,
        *,
        generator: str,
        progress_interval_s: float = 0.1,
    ) -> None:
        self._p = ports
        self._retry = retry
        self._generator = generator
        self._interval = progress_interval_s

    def __call__(self, job_id: str) -> None:
        p = self._p
        job = p.repo.get(job_id)
        if job is None or job.state is not JobState.QUEUED:
            return
        now = p.clock.now()
        if job.next_attempt_at is not None and job.next_attempt_at > now:
            p.queue.enqueue(job_id, (job.next_attempt_at - now).total_seconds())
            return
        try:
            job.start(now)
            self._save(job)
        except ConcurrentUpdate:
            return
        if job.attempts == 1:
            p.metrics.queue_wait((now - job.created_at).total_seconds())
        try:
            model = p.registry.get(job.model_id)
            if model is None or not model.installed:
                raise InvalidInput(f"model {job.model_id!r} is not installed", job_id=job.id)
            if job.attempts > 1:
                self._delete_orphans(job)
            while (item := job.next_item()) is not None:
                self._run_item(job, model, item.index)
            job.succeed(p.clock.now())
            self._save(job)
            p.metrics.job_finished("succeeded", self._duration(job))
        except ConcurrentUpdate:
            return  # another worker took the job over; it owns the outcome now
        except DreamForgeError as e:
            self._fail_or_retry(job, e)
        except Exception as e:  # an unexpected bug must fail the job, not loop forever
            self._fail_or_retry(job, DreamForgeError(f"unexpected error: {e!r}", job_id=job.id))

    def _run_item(self, job: Job, model: ModelDescriptor, index: int) -> None:
        p = self._p
        params = job.params
        seed = params.seed if params.seed is not None and params.seed_honoured else p.seeds.draw()
        started = p.clock.now()
        began = time.monotonic()
        job.start_item(index, seed, started)
        self._save(job)
        last_emit = 0.0

        def on_step(done: int, total: int) -> None:
            nonlocal last_emit
            tick = time.monotonic()
            if done < total and tick - last_emit < self._interval:
                return
            last_emit = tick
            job.advance_item(
                index, "denoise", done / total, p.clock.now(), step=done, total_steps=total
            )
            self._save(job)

        image = p.runner.generate(GenerationRequest(job.id, index, model, params, seed), on_step)
        for code, message in image.info:
            job.note(code, message, p.clock.now(), item_index=index)
        metadata = None
        if params.embed_metadata:
            metadata = ImageMetadata(
                prompt=params.prompt,
                negative_prompt=params.negative_prompt,
                seed=seed,
                scheduler=params.scheduler,
                steps=params.steps,
                guidance=params.guidance,
                width=image.width,
                height=image.height,
                model_name=model.name,
                checkpoint_hash=model.checkpoint_hash,
                generator=self._generator,
            )
        data = p.encoder.encode(image, params.format, metadata)
        job.advance_item(index, "encode", 1.0, p.clock.now())
        key = artifact_key(
            user=job.user,
            job_id=job.id,
            step=job.step.name,
            ts=started,
            item_index=index,
            width=image.width,
            height=image.height,
            seed=seed,
            ext=params.format,
        )
        content_type = CONTENT_TYPES[params.format]
        try:
            p.blobs.put(key, data, content_type)
        except DreamForgeError:
            raise
        except Exception as e:
            raise StorageError(f"could not store {key}: {e}", job_id=job.id) from e
        artifact = Artifact(
            id=new_id(),
            job_id=job.id,
            step=job.step.name,
            item_index=index,
            key=key,
            content_type=content_type,
            format=params.format,
            width=image.width,
            height=image.height,
            seed=seed,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=p.clock.now(),
        )
        job.finish_item(index, artifact, artifact.created_at)
        self._save(job)
        p.metrics.item_finished(time.monotonic() - began)

    def _fail_or_retry(self, job: Job, error: DreamForgeError) -> None:
        p = self._p
        now = p.clock.now()
        info = ErrorInfo(error.code, error.message)
        p.metrics.error(error.code)
        if self._retry.should_retry(error.code, job.attempts):
            delay = self._retry.delay_s(job.attempts)
            job.schedule_retry(info, now, now + timedelta(seconds=delay))
            self._save(job)
            p.queue.enqueue(job.id, delay)
            return
        job.fail(info, now)
        self._save(job)
        p.metrics.job_finished("failed", self._duration(job))
        if error.code in _POISON or self._retry.should_retry(error.code, 0):
            p.queue.dead_letter(job.id, f"{info.code}: {info.message}")

    def _delete_orphans(self, job: Job) -> None:
        """Blobs stored by an attempt that died before recording their artifact row."""
        kept = {a.key for a in self._p.repo.artifacts(job.id)}
        for key in self._p.blobs.list_keys(job_prefix(job.user, job.id)):
            if key not in kept:
                self._p.blobs.delete(key)

    def _save(self, job: Job) -> None:
        events = self._p.repo.save(job)
        self._p.bus.publish(events)

    @staticmethod
    def _duration(job: Job) -> float:
        end = job.finished_at or job.updated_at
        return (end - job.created_at).total_seconds()
