"""Storing one generated image: encode it, put it in the blob store, record its artifact."""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import replace

from dreamforge_core.domain.artifact import CONTENT_TYPES, Artifact, artifact_key
from dreamforge_core.domain.clock import new_id
from dreamforge_core.domain.image_inputs import MASK_BLUR
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.upscale import UPSCALE
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError, StorageError
from dreamforge_core.ports.runner import GeneratedImage
from dreamforge_core.use_cases.job_loras import lora_hashes
from dreamforge_core.use_cases.job_ports import GenerateJobPorts
from dreamforge_core.use_cases.running_job import RunningJob


class StoreImage:
    """Runs on the storing thread for every item but the last; `generator` names this
    program in the metadata embedded in images."""

    def __init__(self, ports: GenerateJobPorts, generator: str) -> None:
        self._p = ports
        self._generator = generator

    def __call__(
        self,
        run: RunningJob,
        model: ModelDescriptor,
        index: int,
        seed: int,
        began: float,
        image: GeneratedImage,
        last: bool,
    ) -> None:
        """Encodes, stores and records item `index`; the last item's record also ends the job
        (one write instead of two). `began` is when the item's generation began. It is one
        method because its steps run in this order for one item, each on the last's result."""
        p, job = self._p, run.job
        params = job.generation
        data = p.encoder.encode(image, params.format, self._metadata(run, model, seed, image))
        with run.lock:
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
        self._put(run, index, key, data, content_type)
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
        with run.lock:
            # Recorded now, with the store, so its time is when clients can see it (an event
            # stamped before a slow upload would look late on arrival).
            job.advance_item(index, "encode", 1.0, artifact.created_at)
            job.finish_item(index, artifact, artifact.created_at)
            if last:
                job.succeed(artifact.created_at)
            try:
                run.save()
            except ConcurrentUpdate:
                # The job was canceled or taken over meanwhile: no row will ever name this
                # file, so it goes (a failed delete is for the retention rule to finish).
                with contextlib.suppress(Exception):
                    p.blobs.delete(key)
                raise
        p.metrics.item_finished(time.monotonic() - began)

    def _put(self, run: RunningJob, index: int, key: str, data: bytes, content_type: str) -> None:
        try:
            with self._p.tracer.span(
                "dreamforge.image.store", item_index=index, size_bytes=len(data)
            ):
                self._p.blobs.put(key, data, content_type)
        except DreamForgeError:
            raise
        except Exception as e:
            raise StorageError(f"could not store {key}: {e}", job_id=run.job.id) from e

    def _metadata(
        self, run: RunningJob, model: ModelDescriptor, seed: int, image: GeneratedImage
    ) -> ImageMetadata | None:
        params = run.job.generation
        if not params.embed_metadata:
            return None
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
            lora_hashes=lora_hashes(self._p.registry, params.loras) if params.loras else (),
            denoising_strength=params.strength if params.init_image else None,
            mask_blur=MASK_BLUR if params.mask_image else None,
        )
        upscale = params.upscale
        if upscale is None or run.job.step.name != UPSCALE:
            return metadata
        # As AUTOMATIC1111 writes a hires-fixed image: the first pass's size, then the pass
        return replace(
            metadata,
            width=params.width,
            height=params.height,
            denoising_strength=upscale.strength,
            hires_upscale=upscale.factor,
            hires_steps=upscale.steps,
        )
