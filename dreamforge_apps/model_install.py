"""Installing a model by reference, as `dreamforge model download` and the IO worker's
`model_download` jobs both do: the model, then, for a single-file SDXL checkpoint, the SDXL
base pipeline config it needs to load offline (configs and tokenizers, no weights)."""

from __future__ import annotations

from pathlib import Path

from dreamforge_adapters.system import SystemClock
from dreamforge_apps.runners import base_config_dir
from dreamforge_apps.settings import Settings
from dreamforge_apps.sources import load_sources
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.model_source import DownloadProgress
from dreamforge_core.use_cases.execute_download import DownloadWatch, ModelInstaller
from dreamforge_core.use_cases.install_model import InstallModel, InstallResult


def install_model(
    settings: Settings,
    registry: ModelRegistry,
    ref: str,
    *,
    progress: DownloadProgress | None = None,
    watch: DownloadWatch | None = None,
) -> InstallResult:
    """Fetches, verifies and registers `ref`; `watch` hears of the file list and the bytes."""
    sources = load_sources(settings, progress=watch or progress)
    install = InstallModel(sources, registry, SystemClock(), settings.models_dir.resolve())
    return install(ref, on_resolved=watch.resolved if watch is not None else None)


def base_config_needed(settings: Settings, model: ModelDescriptor) -> bool:
    return model.kind == "sdxl-checkpoint" and base_config_dir(settings) is None


def install_base_config(
    settings: Settings, registry: ModelRegistry, progress: DownloadProgress | None = None
) -> Path:
    """Fetches the configured SDXL base config under `<models_root>/configs/`."""
    config_ref = parse_model_ref(settings.sdxl_base_config)
    folder = settings.models_dir.resolve() / "configs" / config_ref.name.replace("/", "--")
    configs = load_sources(settings, progress=progress, configs_only=True)
    InstallModel(configs, registry, SystemClock(), settings.models_dir.resolve())(
        config_ref, folder=folder, register=False
    )
    return folder


def background_installer(settings: Settings, registry: ModelRegistry) -> ModelInstaller:
    """What a `model_download` job runs: the model, then its base config when it needs one."""

    def install(ref: str, watch: DownloadWatch) -> InstallResult:
        result = install_model(settings, registry, ref, watch=watch)
        if base_config_needed(settings, result.model):
            install_base_config(settings, registry)
        return result

    return install
