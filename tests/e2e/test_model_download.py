"""`dreamforge model download|verify` end to end: real HTTP to local fake Hugging Face and
CivitAI servers, the real CLI in subprocesses, the real SDXL runner on what was downloaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dreamforge_adapters.imaging.reader import parse_a1111_parameters, read_embedded_metadata
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state
from tests.e2e.hub_fixtures import (
    BIG_MODEL,
    CIVITAI_MODEL,
    CIVITAI_VERSION,
    CONFIG_REPO,
    LORA_MODEL,
    LORA_VERSION,
    TINY_REPO,
)
from tests.e2e.test_sdxl_runner import SDXL_ENV
from tests.support.fake_hub import CivitaiFile, FakeHub
from tests.support.launcher import run_command

pytestmark = pytest.mark.embedded_only

TOKEN = "secret-token-123"


class Cli:
    def __init__(self, data_dir: Path, hub: FakeHub) -> None:
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            **SDXL_ENV,
            "DREAMFORGE_DATA_DIR": str(data_dir),
            "HF_ENDPOINT": hub.url,
            "DREAMFORGE_CIVITAI_BASE_URL": hub.url,
            "DREAMFORGE_SDXL_BASE_CONFIG": f"hf:{CONFIG_REPO}",
            "DREAMFORGE_LOG_LEVEL": "warning",
        }
        self.env.pop("HF_TOKEN", None)
        self.env.pop("CIVITAI_TOKEN", None)

    def args(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dreamforge_apps.cli", *args]

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_command(list(args), {**self.env, **(env or {})}, timeout=300)

    def models(self) -> list[str]:
        listed = self.run("model", "list", "--all")
        assert listed.returncode == 0, listed.stderr
        return [line.split("\t")[0] for line in listed.stdout.splitlines() if "\t" in line]


@pytest.fixture
def cli(tmp_path: Path, hub: FakeHub) -> Iterator[Cli]:
    hub.reset_faults()
    yield Cli(tmp_path / "data", hub)
    hub.reset_faults()


def test_hf_and_civitai_downloads_register_and_run_jobs_that_carry_their_hash(
    cli: Cli, hub: FakeHub
) -> None:
    got_hf = cli.run("model", "download", f"hf:{TINY_REPO}")
    assert got_hf.returncode == 0, got_hf.stderr
    got_civitai = cli.run("model", "download", f"civitai:{CIVITAI_MODEL}")
    assert got_civitai.returncode == 0, got_civitai.stderr
    assert "SDXL base config" in got_civitai.stdout
    got_lora = cli.run("model", "download", f"civitai:{LORA_MODEL}")
    assert got_lora.returncode == 0, got_lora.stderr
    assert f"registered tiny-detail-v{LORA_VERSION} (sdxl-lora)" in got_lora.stdout
    server = ServerProcess(
        cli.data_dir, {**SDXL_ENV, "DREAMFORGE_SDXL_BASE_CONFIG": f"hf:{CONFIG_REPO}"}
    )
    server.start()
    client = DreamForgeClient(server.url, timeout=120)
    try:
        listed = {m["id"]: m for m in client.http.get("/v1/models").json()["items"]}
        lora = listed.pop(f"tiny-detail-v{LORA_VERSION}")
        assert (lora["kind"], lora["base_model"]) == ("sdxl-lora", "sdxl")
        models = listed
        assert len(models) == 2, models
        for model_id in models:
            full = client.http.get(f"/v1/models/{model_id}").json()
            assert full["installed"]
            assert full["provenance"]["files"]
            assert full["checkpoint_hash"]
            job = client.create_job(
                {"prompt": "a lighthouse", "width": 256, "height": 256, "steps": 2},
                model_id=model_id,
            )
            final = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=240)
            assert final["state"] == "succeeded", final
            [artifact] = client.artifacts(job["id"])
            meta = read_embedded_metadata(httpx.get(artifact["url"]).content)
            a1111 = parse_a1111_parameters(meta["parameters"])
            assert a1111["Model hash"] == full["checkpoint_hash"][:10]
        job = client.create_job(
            {"prompt": "a lighthouse", "width": 256, "height": 256, "steps": 2,
             "loras": [{"model_id": lora["id"], "scale": 0.7}]},
            model_id=next(iter(models)),
        )  # fmt: skip
        final = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=240)
        assert final["state"] == "succeeded", final
        [artifact] = client.artifacts(job["id"])
        a1111 = parse_a1111_parameters(
            read_embedded_metadata(httpx.get(artifact["url"]).content)["parameters"]
        )
        assert a1111["Lora hashes"] == f"tiny-detail: {lora_autov3(client, lora['id'])}"
        civitai = next(m for m in models.values() if "tiny-real-xl" in m["id"])
        provenance = client.http.get(f"/v1/models/{civitai['id']}").json()["provenance"]
        assert provenance["model_id"] == CIVITAI_MODEL
        assert provenance["version_id"] == CIVITAI_VERSION
    finally:
        client.close()
        server.stop()


def lora_autov3(client: DreamForgeClient, model_id: str) -> str:
    return str(client.http.get(f"/v1/models/{model_id}").json()["provenance"]["autov3"])[:12]


def test_a_killed_download_resumes_where_it_stopped(cli: Cli, hub: FakeHub) -> None:
    hub.throttle(8_000_000)
    proc = subprocess.Popen(
        cli.args("model", "download", f"civitai:{BIG_MODEL}"),
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parts: list[Path] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(cli.data_dir.rglob("big.safetensors.part"))
        if parts and parts[0].stat().st_size > 8 << 20:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert parts, "the download never started"
    kept = parts[0].stat().st_size
    hub.throttle(None)
    again = cli.run("model", "download", f"civitai:{BIG_MODEL}")
    assert again.returncode == 0, again.stderr
    [start] = hub.range_starts("big.safetensors")
    assert start >= kept
    assert any("big-one" in m for m in cli.models())


@pytest.mark.parametrize(
    ("ref", "fault", "says"),
    [
        ("hf:nobody/nothing", None, "not_found"),
        ("civitai:999999", None, "not_found"),
        ("hf:dreamforge/gated", None, "HF_TOKEN"),
        ("hf:dreamforge/pickles", None, "pickle"),
        ("hf:dreamforge/escape", None, "escape"),
        ("civitai:777", None, "integrity"),
        (f"hf:{TINY_REPO}", "5xx", "503"),
    ],
)
def test_bad_downloads_fail_clearly_and_register_nothing(
    cli: Cli, hub: FakeHub, ref: str, fault: str | None, says: str
) -> None:
    hub.add_hf_repo("dreamforge/gated", {"model.safetensors": b"x" * 100}, gated=True)
    hub.require_token(TOKEN)
    hub.add_hf_repo("dreamforge/pickles", {"model.ckpt": b"x" * 100})
    hub.add_hf_repo("dreamforge/escape", {"../evil.safetensors": b"x" * 100})
    hub.add_civitai_model(
        777,
        "Liar",
        [
            {
                "id": 778,
                "name": "v1",
                "files": [
                    CivitaiFile(7, "liar.safetensors", b"y" * 100, advertised_sha256="0" * 64)
                ],
            }
        ],
    )
    if fault == "5xx":
        hub.fail_next("/resolve/", [503] * 40)
    done = cli.run("model", "download", ref)
    assert done.returncode != 0
    assert says.lower() in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    assert [m for m in cli.models() if m not in ("fake-sdxl",)] == []


def test_verify_finds_a_changed_file_and_marks_the_model_not_installed(
    cli: Cli, hub: FakeHub
) -> None:
    assert cli.run("model", "download", f"hf:{TINY_REPO}").returncode == 0
    [model_id] = cli.models()
    [config] = cli.data_dir.rglob("unet/config.json")
    config.write_text(config.read_text().replace("{", "{ ", 1))
    checked = cli.run("model", "verify", model_id)
    assert checked.returncode == 1
    assert "unet/config.json" in checked.stdout
    listed = cli.run("model", "list", "--all").stdout
    assert "missing" in listed
