"""Installing, importing, verifying and toggling models, with an in-memory source.

It is one module because its cases share the in-memory source and registry, and install,
import, verify and toggle act on the same registry entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from dreamforge_adapters.memory import ManualClock, MemoryModelRegistry
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import ModelRef
from dreamforge_core.errors import (
    DreamForgeError,
    InsufficientStorage,
    InvalidInput,
    ModelConflict,
    NotFound,
)
from dreamforge_core.ports.model_source import (
    DownloadProgress,
    FetchedFile,
    ResolvedModel,
    SourceFile,
)
from dreamforge_core.use_cases.disk_budget import DiskBudget
from dreamforge_core.use_cases.import_model import ImportModel
from dreamforge_core.use_cases.install_model import DESCRIPTOR_FILE, InstallModel
from dreamforge_core.use_cases.model_admin import set_enabled
from dreamforge_core.use_cases.verify_models import VerifyModels

WEIGHTS = b"weights " * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Broken(DreamForgeError):
    code = "integrity"


class MemorySource:
    """Serves one single-file checkpoint (`weights` at `version`, under `file_name`);
    `corrupt` makes verification fail."""

    scheme = "mem"

    def __init__(self) -> None:
        self.corrupt = False
        self.fetches = 0
        self.version = "v1"
        self.weights = WEIGHTS
        self.file_name = "model.safetensors"

    def resolve(self, ref: ModelRef) -> ResolvedModel:
        return ResolvedModel(
            ref=ref,
            name=ref.name,
            version=self.version,
            kind="sdxl-checkpoint",
            files=(SourceFile(self.file_name, "mem://x", len(self.weights), sha(self.weights)),),
            source_uri=f"mem:{ref.name}@{self.version}",
            provenance={"source": "mem"},
            checkpoint_file=self.file_name,
        )

    def model_id(self, model: ResolvedModel) -> str:
        return model.name

    def fetch(
        self, model: ResolvedModel, folder: Path, progress: DownloadProgress | None = None
    ) -> list[FetchedFile]:
        self.fetches += 1
        data = self.weights + (b"!" if self.corrupt else b"")
        path = folder / self.file_name
        path.write_bytes(data)
        return [FetchedFile(path.name, path, len(data), sha(data), False, 0, len(data))]

    def verify(self, model: ResolvedModel, files: Sequence[FetchedFile]) -> dict[str, str]:
        for f in files:
            if f.sha256 != model.files[0].sha256:
                f.path.unlink()
                raise Broken(f"{f.name}: sha256 differs")
        return {f.name: f.sha256 for f in files}

    def to_model_descriptor(
        self, model: ResolvedModel, folder: Path, checksums: dict[str, str], now: datetime
    ) -> ModelDescriptor:
        return ModelDescriptor(
            id=model.name,
            name=model.name,
            kind=model.kind,
            version=model.version,
            created_at=now,
            updated_at=now,
            checkpoint_hash=checksums["model.safetensors"],
            source_uri=model.source_uri,
            local_path=str(folder),
            installed=True,
            provenance={
                **model.provenance,
                "files": {
                    n: {"sha256": h, "size": len(self.weights)} for n, h in checksums.items()
                },
            },
        )


@pytest.fixture
def registry() -> MemoryModelRegistry:
    return MemoryModelRegistry()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def install(tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock) -> InstallModel:
    return InstallModel({"civitai": MemorySource()}, registry, clock, tmp_path)


@pytest.fixture
def installed_v1(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> tuple[MemorySource, InstallModel]:
    """civitai:tiny installed once (v1) from an in-memory source; the source and the installer."""
    source = MemorySource()
    install = InstallModel({"civitai": source}, registry, clock, tmp_path)
    install("civitai:tiny")
    return source, install


def test_an_install_lays_out_registers_and_describes_the_model(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    result = install(tmp_path, registry, clock)("civitai:tiny")
    folder = tmp_path / "sdxl-checkpoint" / "tiny@v1"
    model = registry.get("tiny")
    assert model is not None
    assert model.installed
    assert model.local_path == str((folder / "model.safetensors").resolve())
    assert model.checkpoint_hash == sha(WEIGHTS)
    assert json.loads((folder / DESCRIPTOR_FILE).read_text())["id"] == "tiny"
    assert result.fetched_bytes == len(WEIGHTS)


def test_a_failed_verification_registers_nothing(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    source = MemorySource()
    source.corrupt = True
    with pytest.raises(Broken):
        InstallModel({"civitai": source}, registry, clock, tmp_path)("civitai:tiny")
    assert registry.get("tiny") is None


def test_an_unknown_source_is_refused_naming_the_installed_ones(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    with pytest.raises(InvalidInput, match="installed: civitai"):
        install(tmp_path, registry, clock)("hf:owner/name")


def test_a_reinstall_keeps_the_enabled_flag(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    install(tmp_path, registry, clock)("civitai:tiny")
    set_enabled(registry, clock, "tiny", False)
    install(tmp_path, registry, clock)("civitai:tiny")
    model = registry.get("tiny")
    assert model is not None
    assert not model.enabled


def test_verify_finds_a_changed_file_and_marks_it_not_installed_then_installed_again(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    install(tmp_path, registry, clock)("civitai:tiny")
    weights = tmp_path / "sdxl-checkpoint" / "tiny@v1" / "model.safetensors"
    weights.write_bytes(WEIGHTS.replace(b"w", b"W", 1))  # same size: only a hash tells
    verify = VerifyModels(registry, clock)
    assert verify("tiny", deep=False)[0].ok  # start-up's quick check sees sizes only
    [check] = verify("tiny")
    assert not check.ok
    assert "sha256" in check.problems[0]
    assert registry.get("tiny").installed is False  # type: ignore[union-attr]
    weights.write_bytes(WEIGHTS)
    [again] = verify()
    assert again.ok
    assert again.changed
    assert registry.get("tiny").installed is True  # type: ignore[union-attr]


def test_the_quick_check_finds_a_missing_file(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    install(tmp_path, registry, clock)("civitai:tiny")
    (tmp_path / "sdxl-checkpoint" / "tiny@v1" / "model.safetensors").unlink()
    [check] = VerifyModels(registry, clock)(deep=False)
    assert not check.ok
    assert registry.get("tiny").installed is False  # type: ignore[union-attr]


def test_verify_of_an_unknown_model_is_not_found(
    registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    with pytest.raises(NotFound):
        VerifyModels(registry, clock)("nope")


def test_import_registers_a_checkpoint_in_place_with_its_hash(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    path = tmp_path / "My Model v2.safetensors"
    path.write_bytes(WEIGHTS)
    model = ImportModel(registry, clock)(path)
    assert model.id == "my-model-v2"
    assert model.kind == "sdxl-checkpoint"
    assert model.local_path == str(path.resolve())
    assert model.checkpoint_hash == sha(WEIGHTS)
    assert VerifyModels(registry, clock)(model.id)[0].ok


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "notes.txt"])
def test_import_refuses_pickles_and_other_files(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(InvalidInput):
        ImportModel(registry, clock)(path)
    assert registry.list(include_disabled=True) == []


def test_import_of_a_diffusers_folder_records_every_file(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    folder = tmp_path / "pipe"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(WEIGHTS)
    model = ImportModel(registry, clock)(folder, name="pipe")
    assert model.kind == "sdxl-diffusers"
    assert set(model.provenance["files"]) == {
        "model_index.json",
        "unet/diffusion_pytorch_model.safetensors",
    }
    assert model.checkpoint_hash == sha(WEIGHTS)


def test_enable_and_disable_an_unknown_model_is_not_found(
    registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    with pytest.raises(NotFound):
        set_enabled(registry, clock, "nope", True)


def test_a_model_without_recorded_hashes_is_not_installed(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    path = tmp_path / "unknown.safetensors"
    path.write_bytes(WEIGHTS)
    now = clock.now()
    registry.upsert(
        ModelDescriptor("bare", "bare", "sdxl-checkpoint", "1", now, now, local_path=str(path))
    )
    [check] = VerifyModels(registry, clock)(deep=False)
    assert not check.ok
    assert "no sha256 recorded" in check.problems[0]


# --- what an install refuses -------------------------------------------------------------------


@dataclass
class FakeDisk:
    """A filesystem of `total` bytes with `free` left; `used` under the models root."""

    total: int = 100 << 30
    free: int = 50 << 30
    used: int = 0
    partial: dict[str, int] = field(default_factory=dict)  # bytes already in the folder

    def filesystem(self, path: Path) -> tuple[int, int]:
        return self.total, self.free

    def used_bytes(self, root: Path) -> int:
        return self.used

    def held(self, folder: Path, names: Sequence[str]) -> dict[str, int]:
        return {n: self.partial.get(n, 0) for n in names}


def test_another_version_of_an_installed_model_is_refused_before_any_fetch(
    tmp_path: Path,
    registry: MemoryModelRegistry,
    installed_v1: tuple[MemorySource, InstallModel],
) -> None:
    source, install = installed_v1
    before = registry.get("tiny")
    source.version, source.weights = "v2", WEIGHTS + b"2"
    with pytest.raises(ModelConflict, match=r"tiny.*mem:tiny@v1.*mem:tiny@v2.*--replace"):
        install("civitai:tiny")
    assert source.fetches == 1
    assert registry.get("tiny") == before
    assert not (tmp_path / "sdxl-checkpoint" / "tiny@v2").exists()


def test_replace_installs_the_other_version_and_reports_the_one_it_replaced(
    registry: MemoryModelRegistry,
    clock: ManualClock,
    installed_v1: tuple[MemorySource, InstallModel],
) -> None:
    source, install = installed_v1
    set_enabled(registry, clock, "tiny", False)
    source.version, source.weights = "v2", WEIGHTS + b"2"
    result = install("civitai:tiny", replace_installed=True)
    assert result.replaced is not None
    assert result.replaced.version == "v1"
    model = registry.get("tiny")
    assert model is not None
    assert (model.version, model.checkpoint_hash, model.enabled) == (
        "v2",
        sha(WEIGHTS + b"2"),
        False,
    )
    assert install("civitai:tiny").replaced is None  # the same version again: no conflict


def test_changed_bytes_behind_the_same_version_are_refused(
    tmp_path: Path, installed_v1: tuple[MemorySource, InstallModel]
) -> None:
    source, install = installed_v1
    source.weights = WEIGHTS.replace(b"w", b"W", 1)
    with pytest.raises(ModelConflict, match=r"model\.safetensors"):
        install("civitai:tiny")
    assert (tmp_path / "sdxl-checkpoint" / "tiny@v1" / "model.safetensors").read_bytes() == WEIGHTS


def test_a_model_of_another_origin_under_the_same_id_is_refused(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(WEIGHTS)
    ImportModel(registry, clock)(path)
    with pytest.raises(ModelConflict):
        install(tmp_path, registry, clock)("civitai:tiny")


def test_a_file_named_like_the_descriptor_is_refused_before_any_fetch(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    source = MemorySource()
    source.file_name = "Dreamforge-Model.json"
    with pytest.raises(InvalidInput, match="reserved"):
        InstallModel({"civitai": source}, registry, clock, tmp_path)("civitai:tiny")
    assert source.fetches == 0


def test_a_download_past_the_budget_is_refused_naming_both_figures(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    source = MemorySource()
    disk = FakeDisk(used=5_000)
    budget = DiskBudget(disk, max_bytes=len(WEIGHTS) + 4_999, setting="MAX")
    install = InstallModel({"civitai": source}, registry, clock, tmp_path, budget=budget)
    with pytest.raises(InsufficientStorage) as refused:
        install("civitai:tiny")
    message = refused.value.message
    assert f"{len(WEIGHTS)} bytes" in message
    assert f"MAX is {len(WEIGHTS) + 4_999}" in message
    assert source.fetches == 0
    assert registry.get("tiny") is None
    disk.partial["model.safetensors"] = 1  # what a .part holds is not needed again
    install("civitai:tiny")
    assert source.fetches == 1


def test_a_download_that_would_eat_into_the_free_space_margin_is_refused(
    tmp_path: Path, registry: MemoryModelRegistry, clock: ManualClock
) -> None:
    source = MemorySource()
    gib = 1 << 30
    disk = FakeDisk(total=100 * gib, free=5 * gib + len(WEIGHTS) - 1)  # margin: 5% = 5 GiB
    install = InstallModel({"civitai": source}, registry, clock, tmp_path, budget=DiskBudget(disk))
    with pytest.raises(InsufficientStorage) as refused:
        install("civitai:tiny")
    message = refused.value.message
    assert f"{len(WEIGHTS)} bytes" in message
    assert f"{disk.free} bytes free" in message
    assert source.fetches == 0
    disk.free += 1
    install("civitai:tiny")
    small = FakeDisk(total=4 * gib, free=gib + len(WEIGHTS) - 1)  # margin: at least 1 GiB
    with pytest.raises(InsufficientStorage):
        DiskBudget(small).require(tmp_path, len(WEIGHTS), "x")
