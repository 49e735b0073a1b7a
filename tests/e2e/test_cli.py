"""The `dreamforge` command against a running server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dreamforge_adapters.imaging.reader import read_embedded_metadata
from tests.e2e.conftest import ServerProcess


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """Each test reads only the jobs it created, or the registry that no test changes: one
    server per deployment serves the whole module."""
    return shared_server


def _dreamforge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_generate_downloads_every_image_with_its_metadata(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _dreamforge(
        "generate",
        "a red fox",
        "--count",
        "2",
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "3",
        "--out",
        str(out),
        "--server",
        server.url,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.iterdir())
    assert len(files) == 2
    assert "100.0%" in result.stderr
    seeds = {read_embedded_metadata(f.read_bytes())["seed"] for f in files}
    assert len(seeds) == 2
    assert {str(f) for f in files} == set(result.stdout.split())


def test_generate_sends_an_input_image_and_the_upscale_step(
    server: ServerProcess, tmp_path: Path
) -> None:
    picture = tmp_path / "input.png"
    Image.new("RGB", (96, 64), (200, 120, 40)).save(picture)
    out = tmp_path / "out"
    result = _dreamforge(
        "generate", "a red fox", "--width", "64", "--height", "64", "--steps", "4",
        "--init-image", str(picture), "--strength", "0.5",
        "--upscale", "2", "--upscale-steps", "2", "--out", str(out), "--server", server.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    made = {Image.open(f).size: read_embedded_metadata(f.read_bytes()) for f in out.iterdir()}
    assert set(made) == {(64, 64), (128, 128)}  # the first pass and its upscaled image
    assert "Denoising strength: 0.5" in made[(64, 64)]["parameters"]
    assert "Hires upscale: 2" in made[(128, 128)]["parameters"]


def test_generate_refuses_a_missing_input_file_and_a_bad_lora_scale(
    server: ServerProcess, tmp_path: Path
) -> None:
    missing = _dreamforge("generate", "p", "--init-image", str(tmp_path / "no.png"))
    assert missing.returncode == 2
    assert "is not a file" in missing.stderr
    bad = _dreamforge("generate", "p", "--lora", "some-lora:strong", "--server", server.url)
    assert bad.returncode == 2
    assert "scale" in bad.stderr


def test_generate_reports_a_rejected_request(server: ServerProcess) -> None:
    result = _dreamforge("generate", "p", "--width", "100", "--server", server.url)
    assert result.returncode == 2
    assert "invalid_input" in result.stderr
    assert "params.width" in result.stderr


def test_model_list_shows_the_registry(server: ServerProcess) -> None:
    result = _dreamforge("model", "list", env={**server.env})
    assert result.returncode == 0, result.stderr
    assert "fake-sdxl" in result.stdout
    assert "installed" in result.stdout
