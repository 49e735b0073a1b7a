"""The options of the commands that talk to a running server: where it is, and the key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from dreamforge_apps.cli.errors import remember_server

FC = TypeVar("FC", bound=Callable[..., object])


def server_options(command: FC) -> FC:
    """`--server` (or DREAMFORGE_SERVER) and `--api-key` (or DREAMFORGE_API_KEY)."""
    command = click.option("--api-key", envvar="DREAMFORGE_API_KEY", default=None)(command)
    return click.option(
        "--server",
        envvar="DREAMFORGE_SERVER",
        default="http://127.0.0.1:8000",
        show_default=True,
        callback=remember_server,
    )(command)
