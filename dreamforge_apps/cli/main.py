"""The `dreamforge` command: one group, one module per command group."""

from __future__ import annotations

import gc

import click

from dreamforge_apps import __version__
from dreamforge_apps.cli import bench, cancel, config, db, dlq, generate, model_group, services
from dreamforge_apps.cli.context import CliContext
from dreamforge_apps.cli.errors import PoliteGroup


@click.group(cls=PoliteGroup)
@click.version_option(__version__, prog_name="dreamforge")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Dream Forge: a self-hosted text-to-image job service."""
    gc.enable()  # off while `python -m dreamforge_apps.cli` imported the commands
    ctx.ensure_object(CliContext)


for _command in services.COMMANDS:
    main.add_command(_command)
main.add_command(db.db)
main.add_command(model_group.model)
main.add_command(generate.generate)
main.add_command(cancel.cancel)
main.add_command(dlq.dlq)
main.add_command(config.config)
main.add_command(bench.bench)
