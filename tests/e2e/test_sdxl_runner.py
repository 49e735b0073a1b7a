"""The real SDXL runner on the tiny demo model, over HTTP against `dreamforge serve`."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from dreamforge_adapters.imaging.reader import parse_a1111_parameters, read_embedded_metadata
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state
from tests.support.demo import create_demo
from tests.support.images import mask_url, png_url
from tests.support.processes import runner_pids

pytestmark = pytest.mark.embedded_only

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "demo_sdxl_tiny.json"
SMALL = {"width": 64, "height": 64, "steps": 6}
SDXL_ENV = {
    "DREAMFORGE_RUNNER": "sdxl",
    "DREAMFORGE_RUNNER_TEST_HOOKS": "true",
    "DREAMFORGE_RUNNER_THREADS": "1",
    "DREAMFORGE_RETRY_BASE_DELAY_S": "0.2",
    "HF_HUB_OFFLINE": "1",
}


@contextmanager
def demo_sdxl_server(data_dir: Path) -> Iterator[ServerProcess]:
    """`dreamforge serve` with the SDXL runner on the demo models, in a fresh `data_dir`."""
    create_demo(data_dir)
    server = ServerProcess(data_dir, SDXL_ENV)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdxl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with demo_sdxl_server(tmp_path_factory.mktemp("sdxl") / "data") as server:
        yield server


@pytest.fixture
def sdxl(sdxl_server: ServerProcess) -> Iterator[DreamForgeClient]:
    client = DreamForgeClient(sdxl_server.url, timeout=120)
    yield client
    client.close()


def run(client: DreamForgeClient, **params: object) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    model_id = params.pop("model_id", None)
    job = client.create_job(
        {"prompt": "a lighthouse at dawn", **SMALL, **params},
        model_id=str(model_id) if model_id else None,
    )
    events = [e.data for e in client.stream(job["id"])]
    return client.job(job["id"]), events


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


#: Thumbnail size and per-channel tolerance of the golden check. Exact pixels differ by a few
#: levels between CPU kinds (different float kernels); a drift in seeds, schedulers or
#: parameters changes the picture and shows far beyond this tolerance.
THUMB = 16
GOLDEN_TOLERANCE = 8


def thumbnail(data: bytes) -> list[int]:
    """The image box-averaged to THUMB x THUMB, RGB values row by row."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").resize((THUMB, THUMB), Image.Resampling.BOX)
        return list(small.tobytes())


def images(client: DreamForgeClient, job_id: str) -> list[tuple[dict, bytes]]:  # type: ignore[type-arg]
    return [(a, httpx.get(a["url"]).content) for a in client.artifacts(job_id)]


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_a_batch_carries_each_seed_and_the_checkpoint_hash(
    sdxl: DreamForgeClient, fmt: str
) -> None:
    job, _ = run(sdxl, count=3, format=fmt)
    assert job["state"] == "succeeded", job
    model = sdxl.http.get(f"/v1/models/{job['model_id']}").json()
    found = images(sdxl, job["id"])
    assert len(found) == 3
    seeds = set()
    for artifact, data in found:
        meta = read_embedded_metadata(data)
        a1111 = parse_a1111_parameters(meta["parameters"])
        assert a1111["Seed"] == str(artifact["seed"])
        assert a1111["Model hash"] == model["checkpoint_hash"][:10]
        assert meta["checkpoint_hash"] == model["checkpoint_hash"]
        assert a1111["Steps"] == "6"
        seeds.add(artifact["seed"])
    assert len(seeds) == 3


def test_same_seed_same_pixels_other_scheduler_other_pixels(sdxl: DreamForgeClient) -> None:
    runs = [
        run(sdxl, seed=1234)[0],
        run(sdxl, seed=1234)[0],
        run(sdxl, seed=1234, scheduler="euler_a")[0],
    ]
    first, again, other = (pixels(images(sdxl, j["id"])[0][1]) for j in runs)
    assert first == again
    assert first != other


def test_single_file_checkpoint_gives_the_folder_pixels(sdxl: DreamForgeClient) -> None:
    folder, _ = run(sdxl, seed=99, model_id="demo-sdxl-tiny")
    single, _ = run(sdxl, seed=99, model_id="demo-sdxl-tiny-single")
    assert single["state"] == "succeeded", single
    assert pixels(images(sdxl, folder["id"])[0][1]) == pixels(images(sdxl, single["id"])[0][1])


def test_second_job_on_a_model_finds_it_warm(sdxl: DreamForgeClient) -> None:
    run(sdxl)
    _, events = run(sdxl)
    codes = [e["code"] for e in events]
    assert "model_cache_hit" in codes
    assert "model_loaded" not in codes
    memory = [e for e in events if e["code"] == "memory"]
    assert memory
    assert memory[0]["kind"] == "process"
    assert memory[0]["peak_bytes"] >= memory[0]["end_bytes"] > 0


def test_simulated_oom_fails_the_job_with_cleanup_and_the_next_job_runs(
    sdxl: DreamForgeClient,
) -> None:
    job, events = run(sdxl, prompt="[[oom]] a lighthouse")
    assert job["state"] == "failed"
    assert job["error"]["code"] == "oom"
    assert job["attempts"] == 1  # not retried at the same settings
    cleanup = [e for e in events if e["code"] == "runner_cleanup"]
    assert cleanup
    assert "rss_before_kill_bytes" in cleanup[0]
    after, _ = run(sdxl)
    assert after["state"] == "succeeded"


def test_killing_the_runner_mid_item_is_retried_and_the_job_completes(
    sdxl_server: ServerProcess,
    sdxl: DreamForgeClient,
) -> None:
    job = sdxl.create_job({"prompt": "[[slow:0.2]] a lighthouse", **SMALL, "count": 3})
    killed = False
    for event in sdxl.stream(job["id"]):
        if not killed and event.event == "progress" and event.data["item_index"] == 1:
            assert sdxl_server.proc is not None
            runners = runner_pids(sdxl_server.proc.pid)
            assert len(runners) == 1
            os.kill(runners[0], signal.SIGKILL)
            killed = True
    final = wait_for_state(sdxl, job["id"], {"succeeded", "failed"})
    assert final["state"] == "succeeded", final
    assert final["attempts"] == 2
    assert sorted(a["item_index"] for a in sdxl.artifacts(job["id"])) == [0, 1, 2]
    logs = [
        json.loads(line) for line in sdxl.http.get(f"/v1/jobs/{job['id']}/logs").text.splitlines()
    ]
    retry = [e for e in logs if e["code"] == "retry_scheduled"]
    assert retry
    assert retry[0]["error"]["code"] == "provider_error"
    assert any(e["code"] == "runner_cleanup" for e in logs)


def test_image_to_image_and_inpainting_run_on_the_loaded_model(sdxl: DreamForgeClient) -> None:
    """Image-to-image from a data: URL, then inpainting an artifact of that job: both from
    the weights text-to-image loaded, each image naming what shaped it."""
    run(sdxl)  # the model is loaded
    job, events = run(sdxl, seed=5, init_image=png_url(), strength=0.5)
    assert job["state"] == "succeeded", job
    denoised = [e for e in events if e.get("stage") == "denoise"]
    assert (denoised[-1]["step"], denoised[-1]["total_steps"]) == (3, 3)  # int(6 x 0.5)
    codes = [e["code"] for e in events]
    assert "model_cache_hit" in codes
    assert "model_loaded" not in codes
    [(_, first)] = images(sdxl, job["id"])
    a1111 = parse_a1111_parameters(read_embedded_metadata(first)["parameters"])
    assert a1111["Denoising strength"] == "0.5"

    inpainted, _ = run(sdxl, seed=5, init_image=f"artifact:{job['id']}/0", mask_image=mask_url())
    assert inpainted["state"] == "succeeded", inpainted
    assert inpainted["params"]["strength"] == 0.75
    [(_, second)] = images(sdxl, inpainted["id"])
    a1111 = parse_a1111_parameters(read_embedded_metadata(second)["parameters"])
    assert (a1111["Denoising strength"], a1111["Mask blur"]) == ("0.75", "4")
    assert pixels(second) != pixels(first)


def test_the_upscale_step_enlarges_and_repaints_each_image(sdxl: DreamForgeClient) -> None:
    job, events = run(sdxl, count=2, upscale={"factor": 1.5, "strength": 0.5, "steps": 4})
    assert job["state"] == "succeeded", job["error"]
    assert [(s["name"], s["state"]) for s in job["steps"]] == [
        ("generate", "succeeded"), ("upscale", "succeeded")
    ]  # fmt: skip
    codes = [e["code"] for e in events]
    assert codes.index("step_succeeded") < codes.index("step_started")
    found = images(sdxl, job["id"])
    assert [(a["step"], a["item_index"], a["width"]) for a, _ in found] == [
        ("generate", 0, 64), ("generate", 1, 64), ("upscale", 0, 96), ("upscale", 1, 96)
    ]  # fmt: skip
    for artifact, data in found[2:]:
        assert "/upscale/" in artifact["key"]
        assert artifact["seed"] == found[artifact["item_index"]][0]["seed"]
        a1111 = parse_a1111_parameters(read_embedded_metadata(data)["parameters"])
        assert (a1111["Hires upscale"], a1111["Hires steps"], a1111["Size"]) == (
            "1.5",
            "4",
            "64x64",
        )
        assert a1111["Denoising strength"] == "0.5"
    progress = [e["progress"] for e in events if e["code"] == "item_progress"]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_golden_seeded_images_have_not_drifted(sdxl: DreamForgeClient) -> None:
    golden = json.loads(GOLDEN.read_text())
    for case in golden["cases"]:
        job, _ = run(sdxl, **case["params"])
        assert job["state"] == "succeeded", (case["params"], job["error"])
        got = thumbnail(images(sdxl, job["id"])[-1][1])  # the upscale step's, if any
        drift = max(abs(a - b) for a, b in zip(got, case["thumbnail"], strict=True))
        assert drift <= GOLDEN_TOLERANCE, (case["params"], drift)
