from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dreamforge_core.domain.artifact import CONTENT_TYPES, Artifact, artifact_key, job_prefix
from dreamforge_core.domain.clock import new_id
from dreamforge_core.domain.job import ErrorInfo, ItemState, Job, JobState
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.presets import DEFAULT_PRESETS, Preset
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import (
    ConcurrentUpdate,
    DreamForgeError,
    InvalidInput,
    StepTimeout,
    StorageError,
    Unavailable,
)
from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.image_encoder import ImageEncoder
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.runner import (
    NOTE_MEMORY,
    NOTE_MODEL_LOADED,
    GeneratedImage,
    GenerationRequest,
    Runner,
)
from dreamforge_core.ports.seed_source import SeedSource
from dreamforge_core.use_cases.abandoned import reclaim_abandoned

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


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ExecutionLimits:
    step_timeout_s: float = 1800.0
    progress_interval_s: float = 0.1  # at most one stored progress event per item this often
    lease_s: float = 60.0  # a running job whose lease lapses this long is presumed abandoned
    worker_id: str = field(default_factory=_default_worker_id)


class ExecuteJob:
    """Runs one delivery of a job id.

    Rules:
    - a job that is missing, finished or held by a live worker is left alone (redelivery is a
      no-op); a job whose retry time has not come is put back on the queue for later;
    - the job is claimed with one optimistic update (`queued → running`) that also takes a
      lease, renewed on every save and by a heartbeat; losing the race means another worker
      has it; a running job whose lease lapsed lost its worker and is taken over (resumed, or
      failed as poisoned when its attempts are used up);
    - items run in order from the first unfinished one; each item's seed is drawn immediately
      before it starts (a given seed is used only when count is 1); finished items keep their
      artifacts, and blobs a crashed attempt left without an artifact row are deleted;
    - encoding, hashing and storing item N overlap the generation of item N+1, so the runner
      never waits on storage; a failure of either fails the attempt;
    - the generate step of one attempt has `step_timeout_s` in all; past it the item fails
      with `timeout`;
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
        limits: ExecutionLimits | None = None,
        presets: Mapping[str, Preset] = DEFAULT_PRESETS,
    ) -> None:
        self._p = ports
        self._retry = retry
        self._generator = generator
        self._limits = limits or ExecutionLimits()
        self._presets = presets

    def __call__(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except Unavailable:
            # A store is down: the job's row still says what comes next. The sweeper enqueues
            # a queued job again and takes over a running one once its lease lapses.
            return

    def _run(self, job_id: str) -> None:
        p = self._p
        job = p.repo.get(job_id)
        if job is None or job.state.terminal:
            return
        now = p.clock.now()
        abandoned = job.state is JobState.RUNNING and job.lease_expired(now)
        if job.state is JobState.RUNNING and not (abandoned and self._take_over(job, now)):
            return
        if job.next_attempt_at is not None and job.next_attempt_at > now:
            p.queue.enqueue(job_id, (job.next_attempt_at - now).total_seconds())
            return
        run = _Attempt(self, job)
        try:
            job.start(now, self._limits.worker_id, self._lease_until(now))
            run.save()
        except ConcurrentUpdate:
            return
        if job.attempts == 1:
            p.metrics.queue_wait((now - job.created_at).total_seconds())
        try:
            run.execute()
        except ConcurrentUpdate:
            return  # another worker took the job over; it owns the outcome now
        except DreamForgeError as e:
            self._fail_or_retry(run, e)
        except Exception as e:  # an unexpected bug must fail the job, not loop forever
            self._fail_or_retry(run, DreamForgeError(f"unexpected error: {e!r}", job_id=job.id))
        finally:
            run.close()

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._limits.lease_s)

    def _take_over(self, job: Job, now: datetime) -> bool:
        """Its worker died mid-run; True when the job is queued again and may run now."""
        poisoned = reclaim_abandoned(job, now, self._retry)
        try:
            self._p.bus.publish(self._p.repo.save(job))
        except ConcurrentUpdate:
            return False
        if poisoned:
            self._p.queue.dead_letter(job.id, poisoned)
            return False
        return True

    def _fail_or_retry(self, run: _Attempt, error: DreamForgeError) -> None:
        p, job = self._p, run.job
        with run.lock:
            now = p.clock.now()
            info = ErrorInfo(error.code, error.message)
            p.metrics.error(error.code)
            if self._retry.should_retry(error.code, job.attempts):
                delay = self._retry.delay_s(job.attempts)
                job.schedule_retry(info, now, now + timedelta(seconds=delay))
                run.save()
                p.queue.enqueue(job.id, delay)
                return
            job.fail(info, now)
            run.save()
        p.metrics.job_finished("failed", _duration(job))
        if error.code in _POISON or self._retry.should_retry(error.code, 0):
            p.queue.dead_letter(job.id, f"{info.code}: {info.message}")


class _Attempt:
    """One attempt at a claimed job: the runner on this thread, finishing on another."""

    def __init__(self, owner: ExecuteJob, job: Job) -> None:
        self.owner = owner
        self.p = owner._p
        self.job = job
        self.lock = threading.RLock()  # guards the job object: two threads change it
        self.started = time.monotonic()
        self._finisher: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="dreamforge-lease", daemon=True)
        self._heartbeat.start()

    def save(self) -> None:
        with self.lock:
            if self.job.state is JobState.RUNNING:
                self.job.renew_lease(self.owner._lease_until(self.p.clock.now()))
            events = self.p.repo.save(self.job)
        self.p.bus.publish(events)

    def _beat(self) -> None:
        """Keeps the lease alive through long silent stretches (a model load, a slow step)."""
        while not self._stop.wait(self.owner._limits.lease_s / 3):
            with self.lock:
                if self.job.state is not JobState.RUNNING:
                    continue
                with contextlib.suppress(DreamForgeError):  # the next save reports it
                    self.save()

    def close(self) -> None:
        self._stop.set()
        if self._finisher is not None:
            self._finisher.shutdown(wait=True)

    def execute(self) -> None:
        p, job = self.p, self.job
        model = p.registry.get(job.model_id)
        if model is None or not model.installed:
            raise InvalidInput(f"model {job.model_id!r} is not installed", job_id=job.id)
        if job.attempts > 1:
            self._delete_orphans()
        todo = [i.index for i in job.items if i.state is not ItemState.SUCCEEDED]
        pending: Future[None] | None = None
        try:
            for index in todo:
                seed, began, image = self._generate(model, index)
                if pending is not None:
                    pending.result()  # item N-1 is stored before item N is
                pending = self._finishing().submit(self._finish, model, index, seed, began, image)
            if pending is not None:
                pending.result()
        finally:
            if pending is not None and not pending.done():
                pending.exception()  # never leave a thread writing the job behind
        with self.lock:
            job.succeed(p.clock.now())
            self.save()
        p.metrics.job_finished("succeeded", _duration(job))

    def _finishing(self) -> ThreadPoolExecutor:
        if self._finisher is None:
            self._finisher = ThreadPoolExecutor(1, thread_name_prefix="dreamforge-finish")
        return self._finisher

    def _generate(self, model: ModelDescriptor, index: int) -> tuple[int, float, GeneratedImage]:
        p, job, limits = self.p, self.job, self.owner._limits
        remaining = limits.step_timeout_s - (time.monotonic() - self.started)
        if remaining <= 0:
            raise StepTimeout(
                f"the step ran past its {limits.step_timeout_s:g}s timeout", job_id=job.id
            )
        params = job.params
        seed = params.seed if params.seed is not None and params.seed_honoured else p.seeds.draw()
        began = time.monotonic()
        with self.lock:
            job.start_item(index, seed, p.clock.now())
            self.save()
        preset = self.owner._presets.get(params.preset or "")
        request = GenerationRequest(
            job.id,
            index,
            model,
            params,
            seed,
            timeout_s=remaining,
            runtime=preset.runtime if preset else {},
        )
        image = p.runner.generate(request, _Listener(self, index))
        return seed, began, image

    def _finish(
        self, model: ModelDescriptor, index: int, seed: int, began: float, image: GeneratedImage
    ) -> None:
        p, job = self.p, self.job
        params = job.params
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
                generator=self.owner._generator,
            )
        data = p.encoder.encode(image, params.format, metadata)
        with self.lock:
            started_at = job.items[index].started_at or p.clock.now()
        key = artifact_key(
            user=job.user,
            job_id=job.id,
            step=job.step.name,
            ts=started_at,
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
        with self.lock:
            # Recorded now, with the store, so its time is when clients can see it (an event
            # stamped before a slow upload would look late on arrival).
            job.advance_item(index, "encode", 1.0, artifact.created_at)
            job.finish_item(index, artifact, artifact.created_at)
            self.save()
        p.metrics.item_finished(time.monotonic() - began)

    def _delete_orphans(self) -> None:
        """Blobs stored by an attempt that died before recording their artifact row."""
        kept = {a.key for a in self.p.repo.artifacts(self.job.id)}
        for key in self.p.blobs.list_keys(job_prefix(self.job.user, self.job.id)):
            if key not in kept:
                self.p.blobs.delete(key)


class _Listener:
    """Turns runner reports into job events (throttled progress) and metrics."""

    def __init__(self, attempt: _Attempt, index: int) -> None:
        self._a = attempt
        self._index = index
        self._last_emit = 0.0

    def step(self, done: int, total: int) -> None:
        tick = time.monotonic()
        if done < total and tick - self._last_emit < self._a.owner._limits.progress_interval_s:
            return
        self._last_emit = tick
        a = self._a
        with a.lock:
            a.job.advance_item(
                self._index, "denoise", done / total, a.p.clock.now(), step=done, total_steps=total
            )
            a.save()

    def note(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        a = self._a
        if code == NOTE_MODEL_LOADED:
            a.p.metrics.model_loaded(float(data.get("seconds", 0.0)))
        elif code == NOTE_MEMORY:
            a.p.metrics.memory(
                str(data.get("kind")),
                int(data.get("start_bytes", 0)),
                int(data.get("peak_bytes", 0)),
                int(data.get("end_bytes", 0)),
            )
        with a.lock:
            a.job.note(code, message, a.p.clock.now(), item_index=self._index, **dict(data))


def _duration(job: Job) -> float:
    end = job.finished_at or job.updated_at
    return (end - job.created_at).total_seconds()
