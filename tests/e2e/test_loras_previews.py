"""LoRA per request and live previews over real HTTP, on both deployments, through the real
SDXL runner on the demo model and its demo LoRA (one server per module and deployment).

- a LoRA changes the picture, names itself in the image's parameters, and the next job without
  it gives the plain picture again;
- a LoRA made for other models (an SDXL LoRA, imported while the server runs) and an unknown
  one are refused with 422 naming the field;
- previews arrive on the SSE stream every N steps as small JPEG data URLs, without an id, and
  are neither in the job's log nor replayed on a resumed stream;
- image-to-image, inpainting and the upscale step run on the same loaded model."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dreamforge_adapters.imaging.reader import parse_a1111_parameters, read_embedded_metadata
from dreamforge_apps.client import ApiError, DreamForgeClient
from tests.e2e.conftest import ServerProcess, StackServer
from tests.support.demo import create_demo
from tests.support.images import mask_url
from tests.support.loras import import_lora

SHARED_SERVER_ENV = {
    "DREAMFORGE_RUNNER": "sdxl",
    "DREAMFORGE_RUNNER_TEST_HOOKS": "true",
    "DREAMFORGE_RUNNER_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
}
LORA = "demo-sdxl-tiny-lora"
PARAMS = {"prompt": "a lighthouse at dawn", "width": 64, "height": 64, "steps": 4, "seed": 11}


@pytest.fixture(scope="module")
def client(shared_server: ServerProcess | StackServer) -> Iterator[DreamForgeClient]:
    data_dir = Path(shared_server.env["DREAMFORGE_DATA_DIR"])
    create_demo(data_dir, env=dict(shared_server.env))  # installed while the server runs
    c = DreamForgeClient(shared_server.url, timeout=120)
    yield c
    c.close()


def finish(client: DreamForgeClient, **params: Any) -> tuple[dict[str, Any], list[Any]]:
    job = client.create_job({**PARAMS, **params}, model_id="demo-sdxl-tiny")
    events = list(client.stream(job["id"]))
    done = client.job(job["id"])
    assert done["state"] == "succeeded", done
    return done, events


def image_of(client: DreamForgeClient, job: dict[str, Any]) -> bytes:
    [item] = client.artifacts(job["id"])
    return client.download(item["url"])


def test_a_lora_changes_the_image_and_the_plain_model_comes_back(
    client: DreamForgeClient,
) -> None:
    plain = image_of(client, finish(client)[0])
    lora_job, _ = finish(client, loras=[{"model_id": LORA, "scale": 1.0}])
    assert lora_job["params"]["loras"] == [{"model_id": LORA, "scale": 1.0}]
    with_lora = image_of(client, lora_job)
    assert with_lora != plain
    parameters = parse_a1111_parameters(read_embedded_metadata(with_lora)["parameters"])
    assert parameters["Lora hashes"].startswith(f"{LORA}: ")
    assert image_of(client, finish(client)[0]) == plain


def test_a_lora_for_other_models_or_an_unknown_one_is_refused(
    client: DreamForgeClient, shared_server: ServerProcess | StackServer, tmp_path: Path
) -> None:
    import_lora(dict(shared_server.env), tmp_path, "sdxl-detail")  # while the server runs
    listed = {m["id"]: m for m in client.http.get("/v1/models").json()["items"]}
    assert (listed["sdxl-detail"]["kind"], listed["sdxl-detail"]["base_model"]) == (
        "sdxl-lora", "sdxl"
    )  # fmt: skip
    assert listed[LORA]["base_model"] == listed["demo-sdxl-tiny"]["base_model"]
    for lora, field in [("sdxl-detail", "model_id"), ("nope", "model_id")]:
        with pytest.raises(ApiError) as caught:
            client.create_job(
                {**PARAMS, "loras": [{"model_id": lora, "scale": 1}]}, model_id="demo-sdxl-tiny"
            )
        assert caught.value.status == 422
        fields = [e["field"] for e in caught.value.body["error"]["details"]["errors"]]
        assert fields == [f"params.loras[0].{field}"]


def test_previews_are_live_every_n_steps_and_never_stored(client: DreamForgeClient) -> None:
    # [[slow]] gives the stream time to subscribe before the first steps are done
    job, events = finish(client, prompt="a cat [[slow:0.3]]", steps=6, preview_every=2)
    previews = [e for e in events if e.event == "preview"]
    assert previews, [e.event for e in events]
    assert all(e.id is None for e in previews)
    assert {e.data["step"] for e in previews} <= {2, 4, 6}
    first = previews[0].data
    assert (first["job_id"], first["item_index"], first["total"]) == (job["id"], 0, 6)
    head, _, encoded = first["image"].partition(",")
    assert head == "data:image/jpeg;base64"
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= 256
    logs = client.http.get(f"/v1/jobs/{job['id']}/logs").text
    assert "preview" not in logs
    replayed = list(client.stream(job["id"], last_event_id=1))
    assert replayed
    assert all(e.event != "preview" for e in replayed)


def test_images_in_and_the_upscale_step_run_through_the_real_runner(
    client: DreamForgeClient,
) -> None:
    """Image-to-image, inpainting and the hires-fix step on the same loaded demo model."""
    source = finish(client)[0]
    picture = f"artifact:{source['id']}/0"
    plain = image_of(client, source)

    redrawn = image_of(client, finish(client, init_image=picture, strength=0.5)[0])
    inpainted = image_of(client, finish(client, init_image=picture, mask_image=mask_url())[0])
    assert len({plain, redrawn, inpainted}) == 3
    assert "Denoising strength: 0.5" in read_embedded_metadata(redrawn)["parameters"]
    assert "Mask blur: 4" in read_embedded_metadata(inpainted)["parameters"]

    upscaled, _ = finish(client, upscale={"factor": 2, "strength": 0.5, "steps": 4})
    made = {a["step"]: a for a in client.artifacts(upscaled["id"])}
    assert [(a["width"], a["height"]) for a in made.values()] == [(64, 64), (128, 128)]
    assert client.download(made["generate"]["url"]) == plain  # the same seed, the same pass
    big = read_embedded_metadata(client.download(made["upscale"]["url"]))["parameters"]
    assert "Hires upscale: 2" in big
