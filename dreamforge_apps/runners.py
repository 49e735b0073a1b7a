"""Which Runner serves this process, and the default model its configuration fixes."""

from __future__ import annotations

from pathlib import Path

from dreamforge_adapters.fake_runner import FakeRunner
from dreamforge_apps.models import FAKE_MODEL_ID
from dreamforge_apps.settings import Settings
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.errors import InvalidInput
from dreamforge_core.ports.runner import Runner


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
            step_delay_s=settings.fake_step_delay_s,
            test_hooks=settings.runner_test_hooks,
            load_s=settings.fake_load_s,
            warm_models=settings.warm_models,
            memory_budget_mb=settings.warm_memory_budget_mb,
        )
    from dreamforge_adapters.sdxl.child_process import ChildOptions
    from dreamforge_adapters.sdxl.supervisor import SubprocessRunner

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
            pipeline_cache_size=settings.warm_models,
            memory_budget_mb=settings.warm_memory_budget_mb,
            compile_cache_dir=str(cache.resolve()),
            compile_mode=settings.compile_mode,
            test_hooks=settings.runner_test_hooks,
        ),
        config_for,
    )


def configured_default_model(settings: Settings) -> str | None:
    """The default model fixed by configuration: `DREAMFORGE_DEFAULT_MODEL`, else the fake
    runner's own model with that runner. None leaves the choice to the rule that runs at each
    job creation (`choose_default_model`), so a model installed later counts without a
    restart."""
    if settings.default_model:
        return settings.default_model
    if settings.runner == "fake":
        return FAKE_MODEL_ID
    return None
