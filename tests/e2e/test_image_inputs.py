"""Images in, and a second step per image, through real servers of both deployments (the fake
runner): inputs reach the store under the job's `inputs/` (local files, or S3), an `artifact:`
reference reads an earlier job's image back from that store, the upscale step keys its images
under `upscale/`, and a request carrying an image may be larger than 1 MiB. The real SDXL runner
runs the same requests in tests/e2e/test_sdxl_runner.py."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest

from dreamforge_adapters.imaging.reader import parse_a1111_parameters, read_embedded_metadata
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess
from tests.support.bad_requests import OK, assert_envelope
from tests.support.images import data_url, encoded, mask_url, png_url

UPSCALE = {"factor": 2, "strength": 0.5, "steps": 2}


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """Jobs of this module read only their own results: one server per deployment."""
    return shared_server


@pytest.fixture
def client(server: ServerProcess) -> DreamForgeClient:
    return DreamForgeClient(server.url, timeout=60)


def _finished(client: DreamForgeClient, **params: object) -> dict:  # type: ignore[type-arg]
    job = client.create_job({**OK, **params})
    list(client.stream(job["id"]))
    done = client.job(job["id"])
    assert done["state"] == "succeeded", done
    return done


def test_inputs_are_stored_with_the_job_and_a_later_job_inpaints_its_upscaled_image(
    server: ServerProcess, client: DreamForgeClient
) -> None:
    first = _finished(client, init_image=png_url(80, 80), strength=0.5, upscale=UPSCALE)
    keys = server.stored_keys(first["id"])
    assert sum("/inputs/init_image.png" in k for k in keys) == 1
    assert sum("/generate/" in k for k in keys) == 1
    assert sum("/upscale/" in k and "_128x128_" in k for k in keys) == 1
    assert [s["name"] for s in first["steps"]] == ["generate", "upscale"]

    second = _finished(
        client, width=128, height=128, init_image=f"artifact:{first['id']}/0", mask_image=mask_url()
    )
    assert second["params"]["init_image"]["source"] == f"artifact:{first['id']}/0"
    assert (second["params"]["init_image"]["width"], second["params"]["init_image"]["height"]) == (
        128,
        128,
    )  # the upscaled image was read back from the store
    assert sum("/inputs/" in k for k in server.stored_keys(second["id"])) == 2
    [artifact] = client.artifacts(second["id"])
    a1111 = parse_a1111_parameters(
        read_embedded_metadata(httpx.get(artifact["url"]).content)["parameters"]
    )
    assert (a1111["Denoising strength"], a1111["Mask blur"]) == ("0.75", "4")


def test_a_request_carrying_an_image_may_pass_1_mib(client: DreamForgeClient) -> None:
    small = encoded(1024, 1024, fmt="PNG")
    padded = small[:-12] + _text_chunk(2 * 2**20) + small[-12:]  # the comment before IEND
    job = client.create_job({**OK, "init_image": data_url(padded), "strength": 1})
    assert job["state"] in ("queued", "running", "succeeded")


def test_an_upscale_out_of_range_stores_nothing(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.url}/v1/jobs", json={"params": {**OK, "upscale": {**UPSCALE, "factor": 4}}}
    )
    assert_envelope(response, 422, "invalid_input", "params.upscale.factor")


def _text_chunk(size: int) -> bytes:
    """A PNG comment chunk of `size` bytes: it makes a valid image that large."""
    body = b"Comment\0" + b"x" * size
    return (
        struct.pack(">I", len(body))
        + b"tEXt"
        + body
        + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    )
