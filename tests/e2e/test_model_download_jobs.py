"""Background model downloads (FR-098) end to end, on both deployments: `POST /v1/jobs` with
`type=model_download` runs the downloader on the IO queue (a worker thread of its own in the
embedded server, the worker process's IO consumer in the stack) against the local fake hub;
the installed model then serves a generate job with the real SDXL runner."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx

from dreamforge_adapters.imaging.reader import parse_a1111_parameters, read_embedded_metadata
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import wait_for_state
from tests.e2e.hub_fixtures import CIVITAI_MODEL, CONFIG_REPO
from tests.e2e.test_sdxl_runner import SDXL_ENV
from tests.support.fake_hub import FakeHub


def download_server(
    make_server: Callable[..., Any], hub: FakeHub, *, generates: bool = True, **env: str
) -> Any:
    """A started server (either deployment) whose jobs download from the fake hub; with
    `generates`, the real SDXL runner makes the images (else the fake runner: a test that
    generates nothing need not wait for the SDXL runner's process to start)."""
    hub.reset_faults()
    server = make_server(
        **(SDXL_ENV if generates else {}),
        HF_ENDPOINT=hub.url,
        DREAMFORGE_CIVITAI_BASE_URL=hub.url,
        DREAMFORGE_SDXL_BASE_CONFIG=f"hf:{CONFIG_REPO}",
        DREAMFORGE_MODEL_DOWNLOAD_JOBS="true",
        **env,
    )
    server.start()
    return server


def request_download(client: DreamForgeClient, ref: str) -> httpx.Response:
    return client.http.post("/v1/jobs", json={"type": "model_download", "params": {"ref": ref}})


def test_a_download_job_installs_a_model_that_then_generates(
    make_server: Callable[..., Any], hub: FakeHub
) -> None:
    server = download_server(make_server, hub)
    client = DreamForgeClient(server.url, timeout=120)
    try:
        created = request_download(client, f"civitai:{CIVITAI_MODEL}")
        assert created.status_code == 202, created.text
        job = created.json()
        assert (job["type"], job["count"], job["steps"][0]["name"]) == (
            "model_download",
            1,
            "download",
        )
        done = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=180)
        assert done["state"] == "succeeded", done
        model_id = str(done["model_id"])
        model = client.http.get(f"/v1/models/{model_id}").json()
        assert model["installed"]
        assert model["provenance"]["model_id"] == CIVITAI_MODEL
        progress = client.http.get(f"/v1/jobs/{job['id']}/progress").json()
        assert [s["name"] for s in progress["stages"]] == ["resolve", "fetch", "register"]
        assert progress["progress"] == 1.0
        logs = client.http.get(f"/v1/jobs/{job['id']}/logs").text.splitlines()
        assert "model_installed" in [json.loads(line)["code"] for line in logs]

        generate = client.create_job(
            {"prompt": "a lighthouse", "width": 256, "height": 256, "steps": 2},
            model_id=model_id,
        )
        final = wait_for_state(client, generate["id"], {"succeeded", "failed"}, timeout=240)
        assert final["state"] == "succeeded", final
        [artifact] = client.artifacts(generate["id"])
        meta = read_embedded_metadata(httpx.get(artifact["url"]).content)
        assert (
            parse_a1111_parameters(meta["parameters"])["Model hash"]
            == (model["checkpoint_hash"][:10])
        )
    finally:
        client.close()


def test_a_failed_download_job_says_why_and_registers_nothing(
    make_server: Callable[..., Any], hub: FakeHub
) -> None:
    server = download_server(make_server, hub, generates=False)
    client = DreamForgeClient(server.url, timeout=60)
    try:
        before = client.http.get("/v1/models?include_disabled=true").json()["items"]
        created = request_download(client, "hf:nobody/nothing")
        assert created.status_code == 202, created.text
        done = wait_for_state(client, created.json()["id"], {"succeeded", "failed"}, timeout=60)
        assert done["state"] == "failed"
        assert done["error"] == {"code": "not_found", "message": ANY}, done
        assert done["model_id"] == ""
        after = client.http.get("/v1/models?include_disabled=true").json()["items"]
        assert after == before
        bad = request_download(client, "ftp:x")
        assert bad.status_code == 422
        assert bad.json()["error"]["details"]["errors"][0]["field"] == "params.ref"
    finally:
        client.close()


def test_a_download_job_never_replaces_an_installed_model(
    make_server: Callable[..., Any], hub: FakeHub
) -> None:
    first = hub.add_hf_repo("jobs/moving", {"model.safetensors": b"first " * 400})
    server = download_server(make_server, hub, generates=False)
    client = DreamForgeClient(server.url, timeout=60)
    try:
        job = request_download(client, "hf:jobs/moving").json()
        done = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=120)
        assert done["state"] == "succeeded", done
        model_id = str(done["model_id"])
        before = client.http.get(f"/v1/models/{model_id}").json()
        assert before["version"] == first[:12]

        second = hub.add_hf_repo("jobs/moving", {"model.safetensors": b"second " * 400})
        job = request_download(client, "hf:jobs/moving").json()
        done = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=120)
        assert done["state"] == "failed", done
        assert done["attempts"] == 1  # refused for good, not retried
        error = done["error"]
        assert error["code"] == "model_conflict", error
        assert model_id in error["message"]
        assert second[:12] in error["message"]
        assert client.http.get(f"/v1/models/{model_id}").json() == before
        assert not list((server.data_dir / "models").rglob(f"*@{second[:12]}/model.*"))
    finally:
        client.close()


def test_a_failed_download_job_leaves_no_partial_files_and_one_past_the_budget_fetches_nothing(
    make_server: Callable[..., Any], hub: FakeHub, tmp_path: Path
) -> None:
    # Left by a download abandoned two days ago: the start-up sweep removes it.
    abandoned = tmp_path / "server" / "models" / "sdxl-checkpoint" / "gone@1" / "w.safetensors.part"
    abandoned.parent.mkdir(parents=True)
    abandoned.write_bytes(b"stale")
    two_days_ago = time.time() - 2 * 86400
    os.utime(abandoned, (two_days_ago, two_days_ago))
    budget = 4 << 20
    hub.add_hf_repo("jobs/broken", {"model.safetensors": bytes(range(256)) * 2048})  # 512 KiB
    hub.add_hf_repo("jobs/huge", {"model.safetensors": b"h" * (budget + 1)})
    server = download_server(
        make_server, hub, generates=False, DREAMFORGE_MODELS_MAX_BYTES=str(budget)
    )
    client = DreamForgeClient(server.url, timeout=60)
    models = server.data_dir / "models"
    try:
        # The first transfer breaks after 64 KiB (kept in a .part file); the resume gets 404.
        resumed_before = hub.range_starts("jobs/broken/resolve/")  # the hub serves every run
        hub.drop_after("jobs/broken/resolve/", 64 * 1024)
        hub.fail_next("jobs/broken/resolve/", [None, 404])
        job = request_download(client, "hf:jobs/broken").json()
        done = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=120)
        assert done["state"] == "failed", done
        assert done["error"]["code"] == "not_found", done
        resumed = hub.range_starts("jobs/broken/resolve/")
        assert resumed == [*resumed_before, 64 * 1024]  # a .part was kept and resumed
        assert list(models.rglob("*.part")) == []
        assert not abandoned.exists()

        sent = dict(hub.bytes_sent)
        job = request_download(client, "hf:jobs/huge").json()
        done = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=120)
        assert done["state"] == "failed", done
        error = done["error"]
        assert error["code"] == "insufficient_storage", error
        assert str(budget + 1) in error["message"]
        assert str(budget) in error["message"]
        assert dict(hub.bytes_sent) == sent
        assert list(models.rglob("*.part")) == []
    finally:
        client.close()
