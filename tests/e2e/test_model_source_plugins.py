"""A model source from a separate package (FR-095): the package only registers its class in
the `dreamforge.model_sources` entry-point group, and `dreamforge model download mysrc:…` and
`model_download` jobs use it with no change to Dream Forge.

The package is installed the way pip leaves one: a module and a `.dist-info` folder with
`entry_points.txt`, in a folder on the processes' PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import wait_for_state

#: The whole plugin: a source that installs a model folder from a local directory.
PLUGIN = '''
"""mysrc: models from the folder named by MYSRC_ROOT, one subfolder per model."""

import hashlib
import shutil
from pathlib import Path

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import NotFound, ProviderError
from dreamforge_core.ports.model_source import FetchedFile, ResolvedModel, SourceFile


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FolderSource:
    scheme = "mysrc"

    def __init__(self, root):
        self.root = Path(root)

    @classmethod
    def from_env(cls, environ, *, progress=None):
        return cls(environ["MYSRC_ROOT"])

    def resolve(self, ref):
        folder = self.root / ref.name
        if not folder.is_dir():
            raise NotFound(f"mysrc: no model {ref.name!r}")
        files = tuple(
            SourceFile(
                p.relative_to(folder).as_posix(),
                p.as_uri(),
                size=p.stat().st_size,
                sha256=_sha256(p),
            )
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        )
        version = ref.version or "1"
        return ResolvedModel(
            ref=ref,
            name=ref.name,
            version=version,
            kind="sdxl-diffusers",
            files=files,
            source_uri=f"mysrc:{ref.name}@{version}",
            provenance={"source": "mysrc"},
        )

    def fetch(self, model, folder, progress=None):
        fetched = []
        for file in model.files:
            source = self.root / model.name / file.name
            target = folder / file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            size = target.stat().st_size
            fetched.append(
                FetchedFile(file.name, target, size, _sha256(target), False, 0, size)
            )
        return fetched

    def verify(self, model, files):
        published = {f.name: f.sha256 for f in model.files}
        for file in files:
            if published[file.name] != file.sha256:
                raise ProviderError(f"mysrc: {file.name} differs from the source")
        return {f.name: f.sha256 for f in files}

    def to_model_descriptor(self, model, folder, checksums, now):
        files = {
            name: {"sha256": sha, "size": (folder / name).stat().st_size}
            for name, sha in checksums.items()
        }
        return ModelDescriptor(
            id=f"mysrc-{model.name}",
            name=model.name,
            kind=model.kind,
            version=model.version,
            created_at=now,
            updated_at=now,
            source_uri=model.source_uri,
            local_path=str(folder.resolve()),
            installed=True,
            provenance={**model.provenance, "files": files},
        )
'''


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH holding the installed plugin, and MYSRC_ROOT holding one model."""
    site = tmp_path / "site"
    (site / "mysrc_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "mysrc_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "mysrc_plugin-1.0.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mysrc-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[dreamforge.model_sources]\nmysrc = mysrc_plugin:FolderSource\n"
        "broken = mysrc_plugin_gone:Source\n"  # a plug-in whose module is missing
    )
    model = tmp_path / "mysrc-root" / "lighthouse"
    (model / "unet").mkdir(parents=True)
    (model / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    (model / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(os.urandom(4096))
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "MYSRC_ROOT": str(model.parent)}


def _dreamforge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_downloads_through_a_plugin_source(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**plugin_env, "DREAMFORGE_DATA_DIR": str(tmp_path / "data")}
    result = _dreamforge("model", "download", "mysrc:lighthouse@3", env=env)
    assert result.returncode == 0, result.stderr
    assert "registered mysrc-lighthouse (sdxl-diffusers)" in result.stdout

    listed = _dreamforge("model", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    [row] = [line.split("\t") for line in listed.stdout.splitlines() if "mysrc" in line]
    assert row[:4] == ["mysrc-lighthouse", "sdxl-diffusers", "3", "installed"]
    verified = _dreamforge("model", "verify", "mysrc-lighthouse", env=env)
    assert verified.returncode == 0, verified.stderr
    assert "mysrc-lighthouse: ok" in verified.stdout

    missing = _dreamforge("model", "download", "mysrc:nothing", env=env)
    assert missing.returncode == 1
    assert "not_found: mysrc: no model 'nothing'" in missing.stderr


def test_a_broken_plugin_fails_its_own_references_only(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**plugin_env, "DREAMFORGE_DATA_DIR": str(tmp_path / "data")}
    broken = _dreamforge("model", "download", "broken:x", env=env)
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines() == [
        "Error: internal: model source 'broken' (mysrc_plugin_gone:Source) could not be "
        "loaded: ModuleNotFoundError: No module named 'mysrc_plugin_gone'"
    ]
    assert _dreamforge("model", "download", "mysrc:lighthouse", env=env).returncode == 0
    unknown = _dreamforge("model", "download", "other:x", env=env)
    assert "no source for 'other' (installed: broken, civitai, hf, mysrc)" in unknown.stderr


def test_a_download_job_uses_the_plugin_source_then_the_model_generates(
    make_server: Callable[..., Any], plugin_env: dict[str, str]
) -> None:
    server = make_server(DREAMFORGE_MODEL_DOWNLOAD_JOBS="true", **plugin_env)
    server.start()
    client = DreamForgeClient(server.url, timeout=60)
    try:
        created = client.http.post(
            "/v1/jobs", json={"type": "model_download", "params": {"ref": "mysrc:lighthouse"}}
        )
        assert created.status_code == 202, created.text
        done = wait_for_state(client, created.json()["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded", done
        assert done["model_id"] == "mysrc-lighthouse"
        job = client.create_job(
            {"prompt": "a lighthouse", "width": 256, "height": 256, "steps": 2},
            model_id="mysrc-lighthouse",
        )
        assert wait_for_state(client, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    finally:
        client.close()
