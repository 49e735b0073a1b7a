"""Which Runner serves this process, and which model a job gets when it names none."""

from __future__ import annotations

from pathlib import Path

from dreamforge_adapters.fake_runner import FakeRunner
from dreamforge_apps.models import FAKE_MODEL_ID
from dreamforge_apps.settings import Settings
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.errors import InvalidInput
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.runner import Runner

DEMO_MODEL_ID = "demo-sdxl-tiny"


def base_config_dir(settings: Settings) -> Path | None:
    """The SDXL base pipeline config on disk, from a path or an `hf:` reference that the model
    downloader placed under the models root."""
    value = settings.sdxl_base_config
    if value.startswith("hf:"):
        try:
            ref = parse_model_ref(value)
        except InvalidInput:
            return None
        path = settings.models_dir / "configs" / ref.name.replace("/", "--")
    else:
        path = Path(value).expanduser()
    return path if (path / "model_index.json").exists() else None


def build_runner(settings: Settings) -> Runner:
    if settings.runner == "fake":
        return FakeRunner(
            step_delay_s=settings.fake_step_delay_s, test_hooks=settings.runner_test_hooks
        )
    from dreamforge_adapters.sdxl.supervisor import ChildOptions, SubprocessRunner

    def config_for(model: ModelDescriptor) -> str | None:
        own = model.provenance.get("config_path")
        if isinstance(own, str) and (Path(own) / "model_index.json").exists():
            return own
        found = base_config_dir(settings)
        return str(found) if found else None

    cache = settings.compile_cache_dir or settings.data_dir / "compile-cache"
    return SubprocessRunner(
        ChildOptions(
            threads=settings.runner_threads,
            compile_cache_dir=str(cache.resolve()),
            test_hooks=settings.runner_test_hooks,
        ),
        config_for,
    )


def default_model_id(settings: Settings, registry: ModelRegistry) -> str | None:
    """The configured default; else an installed EpicRealism-XL; else any installed SDXL
    model; else the demo model; the fake runner's own model with the fake runner."""
    if settings.default_model:
        return settings.default_model
    if settings.runner == "fake":
        return FAKE_MODEL_ID
    installed = [m for m in registry.list() if m.installed and m.kind.startswith("sdxl")]
    real = [m for m in installed if m.id != DEMO_MODEL_ID and not m.id.startswith("demo-")]
    for m in real:
        if "epicrealism" in (m.name + m.id).lower():
            return m.id
    if real:
        return real[0].id
    return DEMO_MODEL_ID if any(m.id == DEMO_MODEL_ID for m in installed) else None
