"""Image-to-image and inpainting requests through the HTTP API, in this process: inputs are
read by content, prepared to the job's size and stored under its `inputs/`; an `artifact:`
reference reads only the caller's own jobs; a refused request stores nothing."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from dreamforge_apps.settings import Settings
from dreamforge_core.domain.artifact import Artifact, artifact_key
from dreamforge_core.domain.clock import new_id, utc_now
from dreamforge_core.domain.image_inputs import input_key
from tests.support.bad_requests import OK, assert_envelope
from tests.support.images import data_url, encoded, mask_url, png_url
from tests.support.inprocess_api import InProcessApi, inprocess_api

KEYS = ("alice", "bob")  # test keys of a server made for this module


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ALICE, BOB = _as(KEYS[0]), _as(KEYS[1])


@pytest.fixture(scope="module")
def api() -> Iterator[InProcessApi]:
    settings = Settings(runner="fake", api_keys=",".join(KEYS))
    with inprocess_api(settings) as api:
        yield api


def _finished_job(api: InProcessApi, headers: dict[str, str]) -> str:
    """A job of `headers`' key whose image 0 is stored, as a worker would leave it."""
    job_id = api.client.post("/v1/jobs", json={"params": OK}, headers=headers).json()["id"]
    job, now = api.repo.get(job_id), utc_now()
    assert job is not None
    job.start(now)
    job.start_item(0, 7, now)
    data = encoded(64, 64, color=(200, 10, 10))
    key = artifact_key(user=job.user, job_id=job.id, step="generate", ts=now, item_index=0,
                       width=64, height=64, seed=7, ext="png")  # fmt: skip
    api.blobs.put(key, data, "image/png")
    artifact = Artifact(new_id(), job.id, "generate", 0, key, "image/png", "png", 64, 64, 7,
                        len(data), hashlib.sha256(data).hexdigest(), now)  # fmt: skip
    job.finish_item(0, artifact, now)
    job.succeed(now)
    api.repo.save(job)
    return job_id


def test_an_image_to_image_job_stores_its_input_resized_and_names_it(api: InProcessApi) -> None:
    sent = data_url(encoded(100, 50, fmt="JPEG"), "image/png")  # the named type is not trusted
    body = {"params": {**OK, "width": 128, "height": 64, "init_image": sent}}
    response = api.client.post("/v1/jobs", json=body, headers=ALICE)
    assert response.status_code == 202, response.text
    job = response.json()
    params = job["params"]
    assert params["strength"] == 0.75
    assert params["init_image"]["source"] == "data"
    assert (params["init_image"]["width"], params["init_image"]["height"]) == (100, 50)
    stored = api.blobs.get(input_key("default", job["id"], "init_image"))
    assert hashlib.sha256(stored).hexdigest() == params["init_image"]["sha256"]
    with Image.open(io.BytesIO(stored)) as picture:
        assert (picture.format, picture.size, picture.mode) == ("PNG", (128, 64), "RGB")


def test_an_inpainting_job_stores_a_grey_mask(api: InProcessApi) -> None:
    body = {"params": {**OK, "init_image": png_url(), "mask_image": mask_url(), "strength": 1}}
    job = api.client.post("/v1/jobs", json=body, headers=ALICE).json()
    assert job["params"]["strength"] == 1.0
    stored = api.blobs.get(input_key("default", job["id"], "mask_image"))
    with Image.open(io.BytesIO(stored)) as mask:
        assert mask.mode == "L"
        assert mask.getpixel((0, 0)) == 0
        assert mask.getpixel((63, 0)) == 255


def test_an_artifact_of_the_callers_own_job_is_an_input(api: InProcessApi) -> None:
    earlier = _finished_job(api, ALICE)
    body = {"params": {**OK, "init_image": f"artifact:{earlier}/0", "strength": 0.5}}
    response = api.client.post("/v1/jobs", json=body, headers=ALICE)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["params"]["init_image"]["source"] == f"artifact:{earlier}/0"
    stored = api.blobs.get(input_key("default", job["id"], "init_image"))
    with Image.open(io.BytesIO(stored)) as picture:
        assert picture.getpixel((10, 10)) == (200, 10, 10)


@pytest.mark.parametrize(
    ("who", "item"), [(BOB, 0), (ALICE, 1)], ids=["another key's job", "a missing item"]
)
def test_an_artifact_reference_that_cannot_be_read_is_refused(
    api: InProcessApi, who: dict[str, str], item: int
) -> None:
    earlier = _finished_job(api, ALICE)
    blobs_before, jobs_before = api.blobs.list_keys(""), api.job_count()
    body = {"params": {**OK, "init_image": f"artifact:{earlier}/{item}"}}
    response = api.client.post("/v1/jobs", json=body, headers=who)
    assert_envelope(response, 422, "invalid_input", "params.init_image")
    assert api.blobs.list_keys("") == blobs_before
    assert api.job_count() == jobs_before


def test_a_refused_request_with_a_good_image_stores_nothing(api: InProcessApi) -> None:
    blobs_before = api.blobs.list_keys("")
    body = {"params": {**OK, "init_image": png_url(), "mask_image": mask_url(64, 32)}}
    response = api.client.post("/v1/jobs", json=body, headers=ALICE)
    assert_envelope(response, 422, "invalid_input", "params.mask_image")
    assert api.blobs.list_keys("") == blobs_before


def test_an_idempotent_replay_keeps_the_first_jobs_inputs_only(api: InProcessApi) -> None:
    body = {"params": {**OK, "init_image": png_url(color=(1, 2, 3))}}
    headers = {**ALICE, "Idempotency-Key": "img-replay"}
    first = api.client.post("/v1/jobs", json=body, headers=headers).json()
    blobs_after_first = api.blobs.list_keys("")
    replay = api.client.post("/v1/jobs", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first["id"]
    assert api.blobs.list_keys("") == blobs_after_first  # the replay's copies went again


def test_the_parameters_schema_shows_the_image_inputs(api: InProcessApi) -> None:
    model = api.client.get("/v1/models", headers=ALICE).json()["items"][0]
    properties = model["parameters_schema"]["properties"]
    assert properties["strength"]["default"] == 0.75
    assert properties["strength"]["exclusiveMinimum"] == 0
    assert {"init_image", "mask_image"} <= set(properties)
    upscale = properties["upscale"]["properties"]
    assert (upscale["factor"]["minimum"], upscale["factor"]["maximum"]) == (1.5, 2.0)
    assert upscale["strength"]["exclusiveMinimum"] == 0


def test_a_text_request_over_1_mib_is_still_refused(api: InProcessApi) -> None:
    body = {"params": {**OK, "negative_prompt": "x" * 9000, "prompt": "y" * 9000}}
    body["padding"] = "z" * (2 * 2**20)
    response = api.client.post("/v1/jobs", json=body, headers=ALICE)
    assert_envelope(response, 413, "payload_too_large", "size limit")
