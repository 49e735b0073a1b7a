"""What an image was made with stays known (NFR-060): the job and each artifact record the
checkpoint hash, with or without metadata in the image; and the default model is chosen when
a job is created, so a model installed while the server runs is used without a restart."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state
from tests.support.launcher import run_checked

SMALL = {"prompt": "p", "width": 64, "height": 64, "steps": 2}


def test_job_and_artifacts_record_the_checkpoint_hash(
    server: ServerProcess, client: DreamForgeClient
) -> None:
    model = client.http.get("/v1/models/fake-sdxl").json()
    assert model["checkpoint_hash"]
    for embed in (True, False):
        job = client.create_job({**SMALL, "count": 2, "embed_metadata": embed})
        assert job["checkpoint_hash"] == model["checkpoint_hash"]
        done = wait_for_state(client, str(job["id"]), {"succeeded", "failed"})
        assert done["state"] == "succeeded", done
        assert done["checkpoint_hash"] == model["checkpoint_hash"]
        artifacts = client.artifacts(str(job["id"]))
        assert len(artifacts) == 2
        assert {a["checkpoint_hash"] for a in artifacts} == {model["checkpoint_hash"]}


def _import_model(server: ServerProcess, tmp_path: Path, name: str) -> str:
    """Registers a checkpoint file with `dreamforge model import`, as an operator would while
    the server runs; returns its sha256."""
    weights = tmp_path / f"{name}.safetensors"
    weights.write_bytes(hashlib.sha256(name.encode()).digest() * 64)
    run_checked(["model", "import", str(weights)], server.env, timeout=120)
    return hashlib.sha256(weights.read_bytes()).hexdigest()


def test_a_model_installed_while_running_becomes_the_default(
    make_server: object, tmp_path: Path
) -> None:
    # The SDXL runner, not the fake one: with the fake runner `fake-sdxl` is always the default.
    server: ServerProcess = make_server(  # type: ignore[operator]
        DREAMFORGE_RUNNER="sdxl", DREAMFORGE_RUNNER_THREADS="1", HF_HUB_OFFLINE="1"
    )
    server.start()
    body = {"params": {**SMALL, "width": 256, "height": 256}}  # an SDXL model's smallest

    def create() -> httpx.Response:
        return httpx.post(f"{server.url}/v1/jobs", json=body, timeout=30)

    none_yet = create()
    assert none_yet.status_code == 422
    assert none_yet.json()["error"]["details"]["errors"][0]["field"] == "model_id"

    # the documented rule: an "epicrealism" model first, else the first other SDXL model
    other_hash = _import_model(server, tmp_path, "other-xl")
    first = create()
    assert first.status_code == 202, first.text
    assert (first.json()["model_id"], first.json()["checkpoint_hash"]) == ("other-xl", other_hash)

    epic_hash = _import_model(server, tmp_path, "epicrealism-test")
    second = create()
    assert second.status_code == 202, second.text
    assert (second.json()["model_id"], second.json()["checkpoint_hash"]) == (
        "epicrealism-test",
        epic_hash,
    )
