"""Installing a model by reference, as `dreamforge model download` and the IO worker's
`model_download` jobs both do: the model, then, for a single-file SDXL checkpoint, the SDXL
base pipeline config it needs to load offline (configs and tokenizers, no weights).

Both check the disk budget (DREAMFORGE_MODELS_MAX_BYTES and the free space margin) before the
first byte; only the CLI may replace an installed model (`--replace`). Partial files a job
will not resume are removed: those of a job that failed for good, and at start-up those
untouched for longer than a download attempt may run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from dreamforge_adapters.model_sources.disk_space import LocalDiskSpace
from dreamforge_adapters.model_sources.part_file import remove_abandoned_parts, remove_part_files
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.runners import base_config_dir
from dreamforge_apps.settings import Settings
from dreamforge_apps.sources import load_sources
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.model_source import DownloadProgress, ModelSource, ResolvedModel
from dreamforge_core.use_cases.disk_budget import DiskBudget
from dreamforge_core.use_cases.install_model import InstallModel, InstallResult, model_folder
from dreamforge_core.use_cases.run_download_job import (
    DownloadWatch,
    ModelInstaller,
    PartialCleanup,
)

log = logging.getLogger(__name__)


def _installer(
    settings: Settings, registry: ModelRegistry, sources: Mapping[str, ModelSource]
) -> InstallModel:
    budget = DiskBudget(LocalDiskSpace(), settings.models_max_bytes, "DREAMFORGE_MODELS_MAX_BYTES")
    return InstallModel(
        sources, registry, SystemClock(), settings.models_dir.resolve(), budget=budget
    )


def install_model(
    settings: Settings,
    registry: ModelRegistry,
    ref: str,
    *,
    progress: DownloadProgress | None = None,
    watch: DownloadWatch | None = None,
    replace_installed: bool = False,
) -> InstallResult:
    """Fetches, verifies and registers `ref`; `watch` hears of the file list and the bytes;
    `replace_installed` lets another version take an installed model's id."""
    sources = load_sources(settings, progress=watch or progress)
    return _installer(settings, registry, sources)(
        ref,
        on_resolved=watch.resolved if watch is not None else None,
        replace_installed=replace_installed,
    )


def base_config_needed(settings: Settings, model: ModelDescriptor) -> bool:
    return model.kind == "sdxl-checkpoint" and base_config_dir(settings) is None


def install_base_config(
    settings: Settings, registry: ModelRegistry, progress: DownloadProgress | None = None
) -> Path:
    """Fetches the configured SDXL base config under `<models_root>/configs/`."""
    config_ref = parse_model_ref(settings.sdxl_base_config)
    folder = settings.models_dir.resolve() / "configs" / config_ref.name.replace("/", "--")
    configs = load_sources(settings, progress=progress, configs_only=True)
    _installer(settings, registry, configs)(config_ref, folder=folder, register=False)
    return folder


def background_installer(settings: Settings, registry: ModelRegistry) -> ModelInstaller:
    """What a `model_download` job runs: the model, then its base config when it needs one.
    It never replaces an installed model."""

    def install(ref: str, watch: DownloadWatch) -> InstallResult:
        result = install_model(settings, registry, ref, watch=watch)
        if base_config_needed(settings, result.model):
            install_base_config(settings, registry)
        return result

    return install


def partial_cleanup(settings: Settings) -> PartialCleanup:
    """Removes the partial files of a `model_download` job that failed for good."""
    root = settings.models_dir.resolve()

    def discard(model: ResolvedModel) -> None:
        try:
            removed = remove_part_files(model_folder(root, model))
        except Exception:  # a cleanup must never turn into the job's failure
            log.warning("could not remove the partial files of %s", model.source_uri, exc_info=True)
            return
        if removed:
            log.info("removed %d partial file(s) of %s", len(removed), model.source_uri)

    return discard


def sweep_abandoned_downloads(settings: Settings) -> None:
    """At start-up: partial files untouched for longer than a download attempt may run
    belong to no download any more (a worker died, a job was given up)."""
    root = settings.models_dir.resolve()
    try:
        removed = remove_abandoned_parts(root, older_than_s=settings.download_timeout_s)
    except OSError as exc:
        log.warning("could not sweep partial downloads under %s: %s", root, exc)
        return
    if removed:
        log.info("removed %d abandoned partial download file(s) under %s", len(removed), root)
