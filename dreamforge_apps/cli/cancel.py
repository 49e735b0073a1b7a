"""`dreamforge cancel`: stop a job on a running server."""

from __future__ import annotations

import click

from dreamforge_apps.cli.server_options import server_options


@click.command()
@click.argument("job_id")
@server_options
def cancel(job_id: str, server: str, api_key: str | None) -> None:
    """Cancel a job: a queued one never runs, a running one stops at its next step.

    The images it finished stay with the job. A job that already succeeded or failed cannot
    be canceled (exit 2, as for any refused request)."""
    from dreamforge_apps.client import DreamForgeClient

    client = DreamForgeClient(server, api_key)
    try:
        job = client.cancel(job_id)
    finally:
        client.close()
    click.echo(f"job {job['id']} {job['state']}")
