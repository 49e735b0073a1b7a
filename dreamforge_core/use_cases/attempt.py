"""One attempt at a claimed `generate` job: generation on the caller's thread, encoding and
storing of the previous item on a second thread."""

from __future__ import annotations

import contextvars
import hashlib
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dreamforge_core.domain.artifact import CONTENT_TYPES, Artifact, artifact_key, job_prefix
from dreamforge_core.domain.clock import new_id
from dreamforge_core.domain.job import ItemState, Job
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import DreamForgeError, InvalidInput, StepTimeout, StorageError
from dreamforge_core.ports.runner import (
    NOTE_CLEANUP,
    NOTE_MEMORY,
    NOTE_MODEL_LOADED,
    GeneratedImage,
    GenerationRequest,
)
from dreamforge_core.ports.stop_signal import Stopping
from dreamforge_core.use_cases.execution import ExecutionContext, job_duration
from dreamforge_core.use_cases.job_attempt import JobAttempt

#: How long a record may wait for another write to ride along with (see AttemptListener).
RIDE_ALONG_S = 0.01


class Attempt(JobAttempt):
    """One attempt at a claimed job: the runner on this thread, finishing on another."""

    def __init__(self, context: ExecutionContext, job: Job) -> None:
        super().__init__(context.ports, job, context.leases, context.limits.lease_s)
        self.context = context
        self.p = context.ports
        self._finisher: ThreadPoolExecutor | None = None

    def close(self) -> None:
        super().close()
        if self._finisher is not None:
            self._finisher.shutdown(wait=True)

    def execute(self) -> None:
        p, job = self.p, self.job
        model = p.registry.get(job.model_id)
        if model is None or not model.installed:
            raise InvalidInput(f"model {job.model_id!r} is not installed", job_id=job.id)
        with self.lock:
            job.record_checkpoint(model.checkpoint_hash)  # written with the claim
        if job.attempts > 1:
            self.save()  # the claim, before touching what an earlier attempt left
            self._delete_orphans()
        todo = [i.index for i in job.items if i.state is not ItemState.SUCCEEDED]
        pending: Future[None] | None = None
        try:
            for n, index in enumerate(todo):
                if p.stop.requested:
                    if pending is not None:
                        pending.result()  # the item in hand is stored before the job goes back
                    raise Stopping(f"the worker is stopping before image {index + 1}")
                seed, began, image = self._generate(model, index)
                if pending is not None:
                    pending.result()  # item N-1 is stored before item N is
                if n == len(todo) - 1:  # nothing left to overlap with: finish right here
                    pending = None
                    self._finish(model, index, seed, began, image, last=True)
                else:
                    # the copied context keeps the job's log fields on the finishing thread
                    pending = self._finishing().submit(
                        contextvars.copy_context().run,
                        self._finish,
                        model,
                        index,
                        seed,
                        began,
                        image,
                        last=False,
                    )
        finally:
            if pending is not None and not pending.done():
                pending.exception()  # never leave a thread writing the job behind
        if not todo:  # a taken-over job whose items had all been stored
            with self.lock:
                job.succeed(p.clock.now())
                self.save()
        p.metrics.job_finished("succeeded", job_duration(job), images=job.count)

    def _finishing(self) -> ThreadPoolExecutor:
        if self._finisher is None:
            self._finisher = ThreadPoolExecutor(1, thread_name_prefix="dreamforge-finish")
        return self._finisher

    def _generate(self, model: ModelDescriptor, index: int) -> tuple[int, float, GeneratedImage]:
        p, job, limits = self.p, self.job, self.context.limits
        remaining = limits.step_timeout_s - (time.monotonic() - self.started)
        if remaining <= 0:
            raise StepTimeout(
                f"the step ran past its {limits.step_timeout_s:g}s timeout", job_id=job.id
            )
        params = job.generation
        seed = params.seed if params.seed is not None and params.seed_honoured else p.seeds.draw()
        began = time.monotonic()
        with self.lock:
            job.start_item(index, seed, p.clock.now())
            self.save()
        preset = self.context.presets.get(params.preset or "")
        request = GenerationRequest(
            job.id,
            index,
            model,
            params,
            seed,
            timeout_s=remaining,
            runtime=preset.runtime if preset else {},
        )
        with p.tracer.span("dreamforge.image.generate", item_index=index, seed=seed):
            image = p.runner.generate(request, AttemptListener(self, index))
        return seed, began, image

    def _finish(
        self,
        model: ModelDescriptor,
        index: int,
        seed: int,
        began: float,
        image: GeneratedImage,
        last: bool,
    ) -> None:
        """Encodes, stores and records item `index`; the last item's record also ends the job
        (one write instead of two)."""
        p, job = self.p, self.job
        params = job.generation
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
                generator=self.context.generator,
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
            with p.tracer.span("dreamforge.image.store", item_index=index, size_bytes=len(data)):
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
            checkpoint_hash=model.checkpoint_hash,
        )
        with self.lock:
            # Recorded now, with the store, so its time is when clients can see it (an event
            # stamped before a slow upload would look late on arrival).
            job.advance_item(index, "encode", 1.0, artifact.created_at)
            job.finish_item(index, artifact, artifact.created_at)
            if last:
                job.succeed(artifact.created_at)
            self.save()
        p.metrics.item_finished(time.monotonic() - began)

    def _delete_orphans(self) -> None:
        """Blobs stored by an attempt that died before recording their artifact row."""
        kept = {a.key for a in self.p.repo.artifacts(self.job.id)}
        for key in self.p.blobs.list_keys(job_prefix(self.job.user, self.job.id)):
            if key not in kept:
                self.p.blobs.delete(key)


class AttemptListener:
    """Turns runner reports into job events and metrics, with as few writes as a fast runner
    allows and no event held back long:

    - a step is recorded and written when `progress_interval_s` has passed since the job's
      last write (progress pacing); other steps are dropped, except the final one;
    - past the drain window of a graceful stop, the next step stops the item (`Stopping`);
    - a note, and the final step of an item faster than `RIDE_ALONG_S`, is recorded without a
      write: it rides along with the next one (the item's record comes right after a fast
      item). At the next runner report after it has waited `RIDE_ALONG_S`, it is written,
      so it is late by about one step at most, never by a whole progress interval.
    """

    def __init__(self, attempt: Attempt, index: int) -> None:
        self._a = attempt
        self._index = index
        self._began = time.monotonic()
        self._memory_kinds: set[str] = set()  # memory kinds this item has reported

    def step(self, done: int, total: int) -> None:
        a = self._a
        self._stop_if_overdue()
        tick = time.monotonic()
        due = tick - a.saved_at >= a.context.limits.progress_interval_s
        final = done == total
        write = due or a.unwritten_for(tick) >= RIDE_ALONG_S
        if final and tick - self._began >= RIDE_ALONG_S:
            write = True  # a slow item: its end of denoising is worth showing now
        if not (write or final):
            return
        with a.lock:
            a.job.advance_item(
                self._index, "denoise", done / total, a.p.clock.now(), step=done, total_steps=total
            )
            if write:
                a.save()
            else:
                a.hold(tick)

    def note(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        a = self._a
        if code == NOTE_MODEL_LOADED:
            a.p.metrics.model_loaded(float(data.get("seconds", 0.0)))
        elif code == NOTE_MEMORY or (code == NOTE_CLEANUP and _has_memory(data)):
            self._memory(data, from_cleanup=code == NOTE_CLEANUP)
        with a.lock:
            a.job.note(code, message, a.p.clock.now(), item_index=self._index, **dict(data))
            a.hold(time.monotonic())

    def _stop_if_overdue(self) -> None:
        """Past the drain window of a graceful stop, the item stops at the runner's next step
        (raising through the runner, which lets it pass); notes are still recorded."""
        if self._a.p.stop.overdue:
            raise Stopping(f"the worker stopped image {self._index + 1} at its drain deadline")

    def _memory(self, data: Mapping[str, Any], *, from_cleanup: bool) -> None:
        """One report per item and memory kind: the runner's own figures of the item, or, when
        a timeout, kill or out-of-memory error cut them off, those taken at the cleanup."""
        kind = str(data.get("kind"))
        if from_cleanup and kind in self._memory_kinds:
            return
        self._memory_kinds.add(kind)
        self._a.p.metrics.memory(
            kind,
            int(data.get("start_bytes", 0)),
            int(data.get("peak_bytes", 0)),
            int(data.get("end_bytes", 0)),
        )


def _has_memory(data: Mapping[str, Any]) -> bool:
    return "kind" in data and all(k in data for k in ("start_bytes", "peak_bytes", "end_bytes"))
