"""Running a `generate` job: what a worker does with one delivery of a job id.

`RunGenerateJob.__call__` and `_run_items` are the whole story, read top to bottom:

1. claim the job (`JobClaim`: a redelivery, a job held by a live worker, a retry not yet
   due or a stopping worker end here; a job whose worker died is taken over);
2. read the job's stored inputs (image-to-image, inpainting) once for the attempt;
   for each unfinished item, in order: draw the seed, generate (the runner reports through
   `RunnerReports`), store (`StoreImage`); item N is stored on a second thread while the
   runner generates item N+1, so the runner never waits on storage;
3. succeed with the last item's record; or, when the attempt raised, retry, fail or, on a
   graceful stop, hand the job back (`JobOutcome`).

Rules of a `generate` attempt:
- the claim is written with the first item's start (a retry, which must clean up first,
  writes it alone);
- each item's seed is drawn immediately before it starts (a given seed is used only when
  count is 1); finished items keep their artifacts, and blobs a crashed attempt left
  without an artifact row are deleted;
- a failure of the storing thread fails the attempt as one of the runner would;
- the attempt has `step_timeout_s` in all; past it the item fails with `timeout`;
- a graceful stop starts no new item: the item in hand is stored, then the job goes back.

No thread is started here: the storing thread and the lease renewal's come from the
`Threads` port the deployment provides; `RunningJob` holds the lock they share.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from concurrent.futures import Future

from dreamforge_core.domain.artifact import job_prefix
from dreamforge_core.domain.image_inputs import INIT_IMAGE, MASK_IMAGE, is_input_key
from dreamforge_core.domain.job import GENERATE, ItemState, Job, JobState
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.presets import DEFAULT_PRESETS, Preset
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.domain.upscale import UPSCALE
from dreamforge_core.errors import InvalidInput, StepTimeout
from dreamforge_core.ports.runner import GeneratedImage, GenerationRequest
from dreamforge_core.ports.stop_signal import Stopping
from dreamforge_core.use_cases.job_claim import JobClaim
from dreamforge_core.use_cases.job_inputs import load_inputs
from dreamforge_core.use_cases.job_loras import applied_loras
from dreamforge_core.use_cases.job_outcome import JobOutcome, job_duration
from dreamforge_core.use_cases.job_ports import GenerateJobPorts
from dreamforge_core.use_cases.model_routing import ModelRouting
from dreamforge_core.use_cases.runner_reports import RunnerReports
from dreamforge_core.use_cases.running_job import JobLimits, RunningJob
from dreamforge_core.use_cases.store_image import StoreImage
from dreamforge_core.use_cases.upscale_items import generated_image, upscale_params

__all__ = ["GenerateJobPorts", "JobLimits", "RunGenerateJob"]


class RunGenerateJob:
    def __init__(
        self,
        ports: GenerateJobPorts,
        retry: RetryPolicy,
        *,
        generator: str,
        limits: JobLimits | None = None,
        presets: Mapping[str, Preset] = DEFAULT_PRESETS,
        routing: ModelRouting | None = None,
    ) -> None:
        limits = limits or JobLimits()
        self._ports = ports
        self._limits = limits
        self._presets = presets
        self._claim = JobClaim(
            ports,
            retry,
            limits,
            job_type=GENERATE,
            progress_interval_s=limits.progress_interval_s,
            routing=routing,
        )
        self._routing = routing
        self._store_image = StoreImage(ports, generator)
        self._outcome = JobOutcome(ports, retry)

    def __call__(self, job_id: str) -> None:
        self._claim.run(job_id, self._run_items, self._outcome.settle)

    def _run_items(self, run: RunningJob) -> None:
        p, job = self._ports, run.job
        model = self._installed_model(job)
        with run.lock:
            job.record_checkpoint(model.checkpoint_hash)  # written with the claim
        if job.attempts > 1:
            run.save()  # the claim, before touching what an earlier attempt left
            self._delete_orphans(job)
        # every unfinished item of every unfinished step: a job resumes in the step it left
        todo = [
            (step.name, i.index)
            for step in job.steps
            if step.state is not JobState.SUCCEEDED
            for i in step.items
            if i.state is not ItemState.SUCCEEDED
        ]
        inputs = load_inputs(p.blobs, job) if todo else {}
        storing = p.threads.single("dreamforge-finish")
        stored: Future[None] | None = None  # the previous item, stored while this one runs
        try:
            for n, (step_name, index) in enumerate(todo):
                if p.stop.requested:
                    if stored is not None:
                        stored.result()  # the item in hand is stored before the job goes back
                    raise Stopping(f"the worker is stopping before image {index + 1}")
                if stored is not None and todo[n - 1][0] != step_name:
                    stored.result()  # a step is complete before the next one starts
                    stored = None
                time_left = self._time_left(run)
                seed = self._draw_seed(job, index)
                began = time.monotonic()
                image = self._generate(run, model, index, seed, time_left, inputs)
                if stored is not None:
                    stored.result()  # item N-1 is stored before item N is
                if n == len(todo) - 1:  # nothing left to overlap with: store it right here
                    stored = None
                    self._store_image(run, model, index, seed, began, image, last=True)
                else:
                    # the copied context keeps the job's log fields on the storing thread
                    stored = storing.submit(
                        contextvars.copy_context().run,
                        self._store_image,
                        run,
                        model,
                        index,
                        seed,
                        began,
                        image,
                        last=False,
                    )
        finally:
            if stored is not None and not stored.done():
                stored.exception()  # never leave a thread writing the job behind
            storing.shutdown(wait=True)
        if not todo:  # a taken-over job whose items had all been stored
            with run.lock:
                job.succeed(p.clock.now())
                run.save()
        p.metrics.job_finished("succeeded", job_duration(job), images=job.count)

    def _installed_model(self, job: Job) -> ModelDescriptor:
        model = self._ports.registry.get(job.model_id)
        if model is None or not model.installed:
            raise InvalidInput(f"model {job.model_id!r} is not installed", job_id=job.id)
        return model

    def _time_left(self, run: RunningJob) -> float:
        """What is left of the attempt's `step_timeout_s`; past it the item fails."""
        timeout_s = self._limits.step_timeout_s
        remaining = timeout_s - (time.monotonic() - run.started)
        if remaining <= 0:
            raise StepTimeout(f"the step ran past its {timeout_s:g}s timeout", job_id=run.job.id)
        return remaining

    def _draw_seed(self, job: Job, index: int) -> int:
        if job.step.name == UPSCALE:  # the hires pass keeps its image's seed
            return job.steps[0].items[index].seed or 0
        params = job.generation
        if params.seed is not None and params.seed_honoured:
            return params.seed
        return self._ports.seeds.draw()

    def _generate(
        self,
        run: RunningJob,
        model: ModelDescriptor,
        index: int,
        seed: int,
        time_left: float,
        inputs: Mapping[str, bytes],
    ) -> GeneratedImage:
        p, job = self._ports, run.job
        with run.lock:
            job.start_item(index, seed, p.clock.now())
            run.save()
        preset = self._presets.get(job.generation.preset or "")
        params = job.generation
        if job.step.name == UPSCALE:
            params = upscale_params(params, model.limits.size_multiple)
            inputs = {INIT_IMAGE: generated_image(job, index, p.repo, p.blobs)}
        request = GenerationRequest(
            job.id,
            index,
            model,
            params,
            seed,
            timeout_s=time_left,
            runtime=preset.runtime if preset else {},
            init_image=inputs.get(INIT_IMAGE),
            mask_image=inputs.get(MASK_IMAGE),
            loras=applied_loras(p.registry, job.generation.loras, job.id),
        )
        with p.tracer.span("dreamforge.image.generate", item_index=index, seed=seed):
            on_warm = self._routing.reported if self._routing is not None else None
            return p.runner.generate(request, RunnerReports(p, run, index, on_warm=on_warm))

    def _delete_orphans(self, job: Job) -> None:
        """Blobs stored by an attempt that died before recording their artifact row (the
        job's inputs, stored with its row, stay)."""
        kept = {a.key for a in self._ports.repo.artifacts(job.id)}
        for key in self._ports.blobs.list_keys(job_prefix(job.user, job.id)):
            if key not in kept and not is_input_key(job.user, job.id, key):
                self._ports.blobs.delete(key)
