"""`dreamforge model …`: the registry, the demo model, and the admin commands of `model.py`."""

from __future__ import annotations

import click

from dreamforge_apps.cli.context import cli_settings
from dreamforge_apps.cli.model import COMMANDS as ADMIN_COMMANDS


@click.group()
def model() -> None:
    """The model registry."""


@model.command("list")
@click.option("--all", "include_disabled", is_flag=True, help="Include disabled models.")
def model_list(include_disabled: bool) -> None:
    """List registered models."""
    from dreamforge_apps.registry_access import open_registry

    with open_registry(cli_settings()) as registry:
        models = registry.list(include_disabled=include_disabled)
    if not models:
        click.echo("no models registered")
    for m in models:
        flags = ("installed" if m.installed else "missing") + ("" if m.enabled else ", disabled")
        click.echo(
            f"{m.id}\t{m.kind}\t{m.version}\t{flags}\t{m.short_hash or '-'}\t"
            f"{m.local_path or m.source_uri or ''}"
        )


for _command in ADMIN_COMMANDS:
    model.add_command(_command)


@model.command("create-demo")
def model_create_demo() -> None:
    """Build and register a tiny random SDXL-shaped demo model, offline.

    Both forms are made: a diffusers folder (demo-sdxl-tiny) and a single-file checkpoint
    (demo-sdxl-tiny-single). They run the real diffusers pipeline; their images are noise.
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dreamforge_adapters.sdxl.demo_model import create_demo
    from dreamforge_apps.registry_access import open_registry

    settings = cli_settings()
    models = create_demo(settings.models_dir.resolve())
    with open_registry(settings) as registry:
        for m in models:
            registry.upsert(m)
    for m in models:
        click.echo(f"registered {m.id} ({m.kind}) sha256 {m.checkpoint_hash} at {m.local_path}")
    click.echo("The demo model has random weights: its images are noise.")
