"""`dreamforge model download|import|verify|enable|disable`: the model admin commands.

They work on the registry of the configured deployment (Postgres when DREAMFORGE_DATABASE_URL
is set, else the embedded SQLite file) and install under DREAMFORGE_MODELS_ROOT. Every failure
ends with a one-line reason and exit status 1 (`errors.py` words it); nothing is registered
that did not verify.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from dreamforge_apps.cli.context import cli_settings


@click.command("download")
@click.argument("ref")
@click.option("--no-base-config", is_flag=True, help="Do not fetch the SDXL base config.")
@click.option(
    "--replace",
    is_flag=True,
    help="Let another version (revision, version id, changed bytes) take the id of an "
    "installed model. Its old files stay on disk.",
)
def model_download(ref: str, no_base_config: bool, replace: bool) -> None:
    """Download, verify and register REF: hf:<repo>[@rev][#file], civitai:<id|slug>[@version],
    or <source>:<name>[@version][#file] of an installed source plug-in.

    Resumable: run it again after an interruption and it continues where it stopped.
    Another version of an installed model is refused unless --replace is given. Refused
    before the first byte when it does not fit DREAMFORGE_MODELS_MAX_BYTES or the free disk
    space. Tokens come from HF_TOKEN and CIVITAI_TOKEN.
    """
    from dreamforge_apps.cli.download_progress import DownloadProgressLine
    from dreamforge_apps.model_install import (
        base_config_needed,
        install_base_config,
        install_model,
    )
    from dreamforge_apps.registry_access import open_registry

    settings = cli_settings()
    progress = DownloadProgressLine()
    with open_registry(settings) as registry:
        try:
            result = install_model(
                settings, registry, ref, progress=progress, replace_installed=replace
            )
        finally:
            progress.finish()
        m = result.model
        fetched = result.fetched_bytes
        click.echo(
            f"registered {m.id} ({m.kind}) sha256 {m.checkpoint_hash or '-'} at {m.local_path}; "
            f"{len(result.files)} file(s), {fetched:,} bytes fetched in {result.seconds:.1f} s"
        )
        if (old := result.replaced) is not None:
            click.echo(
                f"replaced {old.id} from {old.source_uri or '-'}; its files stay at "
                f"{old.local_path or '-'} (delete them once no job uses them)"
            )
        if base_config_needed(settings, m) and not no_base_config:
            click.echo(f"fetching the SDXL base config {settings.sdxl_base_config} (no weights)")
            try:
                folder = install_base_config(settings, registry, progress)
            finally:
                progress.finish()
            click.echo(f"SDXL base config at {folder}")


@click.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", default=None, help="Model name (default: the file or folder name).")
@click.option(
    "--base",
    default=None,
    help="For a LoRA: the models it fits (sdxl, or a model family such as demo-sdxl-tiny); "
    "default: sdxl when its shapes are SDXL's.",
)
def model_import(path: Path, name: str | None, base: str | None) -> None:
    """Register a checkpoint or LoRA already on disk (a .safetensors file or a diffusers
    folder)."""
    from dreamforge_adapters.system import SystemClock
    from dreamforge_apps.registry_access import open_registry
    from dreamforge_core.use_cases.import_model import ImportModel

    with open_registry(cli_settings()) as registry:
        m = ImportModel(registry, SystemClock())(path, name=name, base=base)
    click.echo(f"registered {m.id} ({m.kind}) sha256 {m.checkpoint_hash or '-'} at {m.local_path}")


@click.command("verify")
@click.argument("model_id", required=False)
def model_verify(model_id: str | None) -> None:
    """Re-hash the files of MODEL_ID (default: every model) against the recorded sha256.

    A model that fails is marked not installed; exit status 1 when any failed."""
    from dreamforge_adapters.system import SystemClock
    from dreamforge_apps.registry_access import open_registry
    from dreamforge_core.use_cases.verify_models import VerifyModels

    with open_registry(cli_settings()) as registry:
        checks = VerifyModels(registry, SystemClock())(model_id)
    for c in checks:
        state = "ok" if c.ok else "FAILED, marked not installed"
        click.echo(f"{c.model_id}: {state}" + "".join(f"\n  {p}" for p in c.problems))
    if any(not c.ok for c in checks):
        raise SystemExit(1)


def _toggle(enabled: bool) -> Callable[[str], None]:
    def command(model_id: str) -> None:
        from dreamforge_adapters.system import SystemClock
        from dreamforge_apps.registry_access import open_registry
        from dreamforge_core.use_cases.model_admin import set_enabled

        with open_registry(cli_settings()) as registry:
            set_enabled(registry, SystemClock(), model_id, enabled)
        click.echo(f"{model_id} {'enabled' if enabled else 'disabled'}")

    return command


model_enable = click.command("enable", help="Accept jobs on MODEL_ID and list it.")(
    click.argument("model_id")(_toggle(True))
)
model_disable = click.command("disable", help="Refuse jobs on MODEL_ID; keep its files.")(
    click.argument("model_id")(_toggle(False))
)

COMMANDS = [model_download, model_import, model_verify, model_enable, model_disable]
