"""`dreamforge config docs|flags|webhook-secret`: the settings as documentation, the feature
flags, and a new webhook signing secret."""

from __future__ import annotations

import base64
import secrets
import sys
from pathlib import Path

import click

from dreamforge_apps import __version__
from dreamforge_apps.cli.context import cli_settings


@click.group()
def config() -> None:
    """The settings."""


@config.command("docs")
@click.argument(
    "path", type=click.Path(dir_okay=False, path_type=Path), default="docs/configuration.md"
)
@click.option("--check", is_flag=True, help="Exit 1 if the file is out of date; change nothing.")
def config_docs(path: Path, check: bool) -> None:
    """Render the variable tables of docs/configuration.md from the settings."""
    from dreamforge_apps.config_docs import main as render_docs

    code = render_docs([str(path), *(["--check"] if check else [])])
    if code:
        sys.exit(code)


@config.command("flags")
def config_flags() -> None:
    """List the feature flags: state here, owner, the release they expire in, removal task."""
    from dreamforge_apps.feature_flags import FLAGS

    settings = cli_settings()
    rows = [("flag", "variable", "state", "owner", "expires", "removal")]
    for flag in FLAGS:
        expires = flag.expires_in_release + (" EXPIRED" if flag.expired(__version__) else "")
        rows.append(
            (flag.name, flag.variable, flag.state(settings), flag.owner, expires, flag.removal_task)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join([*(v.ljust(w) for v, w in zip(row, widths, strict=False)), row[-1]]))


@config.command("webhook-secret")
def config_webhook_secret() -> None:
    """Print a new secret for DREAMFORGE_WEBHOOK_SECRET: `whsec_` and 32 random bytes in
    base64. Give the same value to the server and to your webhook receivers."""
    click.echo("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
