"""What the runner gets for an item of the `upscale` step (hires fix): the item's generated
image as the init image, and the generate parameters at the enlarged size with the upscale's
strength and steps. The runner enlarges the image to that size, then repaints it; the item
keeps the seed its image was generated with, as AUTOMATIC1111's hires pass does."""

from __future__ import annotations

from dataclasses import replace

from dreamforge_core.domain.job import Job
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import NotFound, ProviderError
from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.job_repo import JobRepo

GENERATED = "generate"


def upscale_params(params: GenerateParams, multiple: int = 8) -> GenerateParams:
    """The generate parameters as the upscale pass runs them."""
    upscale = params.upscale
    if upscale is None:
        raise ValueError("the job has no upscale step")
    width, height = upscale.size(params.width, params.height, multiple)
    return replace(
        params,
        width=width,
        height=height,
        steps=upscale.steps,
        strength=upscale.strength,
        init_image=None,
        mask_image=None,
        upscale=None,
    )


def generated_image(job: Job, index: int, repo: JobRepo, blobs: BlobStore) -> bytes:
    """The stored image item `index` of the generate step made: the upscale pass starts from
    it, so a resumed upscale step never generates it again."""
    artifact = next(
        (a for a in repo.artifacts(job.id) if a.step == GENERATED and a.item_index == index),
        None,
    )
    try:
        if artifact is not None:
            return blobs.get(artifact.key)
    except NotFound:
        pass
    # Transient on purpose: a store that lost the image may have it back on the next try.
    raise ProviderError(f"image {index + 1} of job {job.id} is not stored", job_id=job.id)
