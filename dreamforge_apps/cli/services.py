"""`dreamforge serve`, `api` and `worker`: the long-running processes of both deployments."""

from __future__ import annotations

import click

from dreamforge_apps.cli.context import cli_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--allow-insecure-bind",
    is_flag=True,
    help="Listen beyond loopback without API keys (not for shared networks).",
)
def serve(host: str, port: int, allow_insecure_bind: bool) -> None:
    """Run API and worker in one process with no infrastructure (SQLite, local files)."""
    from dreamforge_apps.bootstrap.resources import ConfigurationError
    from dreamforge_apps.http_server import UnsafeBind
    from dreamforge_apps.serve import serve_embedded

    settings = cli_settings(service=True)
    if allow_insecure_bind:
        settings.allow_insecure_bind = True
    try:
        serve_embedded(settings, host, port)
    except (UnsafeBind, ConfigurationError) as e:
        raise click.ClickException(str(e)) from e


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--allow-insecure-bind",
    is_flag=True,
    help="Listen beyond loopback without API keys (not for shared networks).",
)
def api(host: str, port: int, allow_insecure_bind: bool) -> None:
    """Run the API service of the production stack (Postgres, Redis, S3)."""
    from dreamforge_apps.bootstrap.resources import ConfigurationError
    from dreamforge_apps.http_server import UnsafeBind
    from dreamforge_apps.stack_api import serve_api

    settings = cli_settings(service=True)
    if allow_insecure_bind:
        settings.allow_insecure_bind = True
    try:
        serve_api(settings, host, port)
    except (UnsafeBind, ConfigurationError) as e:
        raise click.ClickException(str(e)) from e


@click.command()
def worker() -> None:
    """Run a worker of the production stack: one process per GPU."""
    from dreamforge_apps.bootstrap.resources import ConfigurationError
    from dreamforge_apps.stack_worker import run_worker_process

    try:
        run_worker_process(cli_settings(service=True))
    except ConfigurationError as e:
        raise click.ClickException(str(e)) from e


COMMANDS = [serve, api, worker]
