"""Image-to-image and inpainting jobs in the worker: every attempt hands the runner the very
bytes stored with the job, a retry keeps them, and the image's metadata says what shaped it."""

from __future__ import annotations

import hashlib

import pytest

from dreamforge_core.domain.image_inputs import input_key
from dreamforge_core.domain.job import JobState
from dreamforge_core.errors import ProviderError, Unavailable
from tests.support.images import mask_url, png_url

from .conftest import Harness


def test_the_runner_gets_the_stored_inputs_and_strength(harness: Harness) -> None:
    job = harness.create(init_image=png_url(), mask_image=mask_url(), strength=0.6).job
    harness.settle()

    assert harness.job(job.id).state is JobState.SUCCEEDED
    [call] = harness.runner.calls
    assert call.params.strength == 0.6
    init = harness.blobs.get(input_key("default", job.id, "init_image"))
    assert call.init_image == init
    assert call.mask_image == harness.blobs.get(input_key("default", job.id, "mask_image"))
    assert hashlib.sha256(init).hexdigest() == job.generation.init_image.sha256  # type: ignore[union-attr]


def test_a_retry_keeps_the_inputs_and_uses_them_again(harness: Harness) -> None:
    harness.runner.fail_on(0, ProviderError("runner crashed"), times=1)
    job = harness.create(init_image=png_url()).job
    harness.settle()

    assert harness.job(job.id).state is JobState.SUCCEEDED
    first, second = harness.runner.calls
    assert first.init_image is not None
    assert first.init_image == second.init_image
    assert harness.blobs.list_keys(input_key("default", job.id, "init_image"))


def test_the_metadata_names_the_denoising_strength_and_mask_blur(harness: Harness) -> None:
    for params in ({"mask_image": mask_url(), "strength": 0.5}, {"strength": 0.4}):
        harness.create(init_image=png_url(), **params)
        harness.settle()  # one at a time: jobs created at one instant start in any order
    harness.create()
    harness.settle()

    inpainted, image_to_image, text = (m.a1111_parameters() for m in harness.encoder.metadata)  # type: ignore[union-attr]
    assert "Denoising strength: 0.5, Mask blur: 4," in inpainted
    assert "Denoising strength: 0.4, Version" in image_to_image
    assert "Denoising strength" not in text


def test_a_stored_input_that_is_gone_fails_the_job_as_invalid_input(harness: Harness) -> None:
    job = harness.create(init_image=png_url()).job
    harness.blobs.delete(input_key("default", job.id, "init_image"))
    harness.settle()

    failed = harness.job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    assert failed.error.code == "invalid_input"


def test_inputs_of_a_job_that_could_not_be_stored_are_deleted(harness: Harness) -> None:
    def unreachable(*_: object) -> None:
        raise Unavailable("the database is down")

    harness.repo.create = unreachable  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        harness.create(init_image=png_url(), mask_image=mask_url())
    assert harness.blobs.list_keys("") == []
