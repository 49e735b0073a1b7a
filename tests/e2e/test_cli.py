"""The `dreamforge` command against a running server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
