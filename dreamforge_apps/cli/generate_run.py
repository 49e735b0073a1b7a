"""`dreamforge generate`: submit a job to a running server, follow it, collect the images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.client import DreamForgeClient


def _bar(progress: float, width: int = 30) -> str:
    filled = round(progress * width)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {progress * 100:5.1f}%"


def _follow(client: DreamForgeClient, job: dict[str, Any]) -> str:
    """Shows the job's progress from its event stream; returns the state it ended in."""
    state: str = job["state"]
    for event in client.stream(job["id"]):
        if event.event == "progress":
            click.echo(f"\r{_bar(event.data['progress'])}", nl=False, err=True)
        elif event.event == "log" and event.data.get("level") in ("warning", "error"):
            click.echo(f"\n{event.data['level']}: {event.data['message']}", err=True)
        elif event.event == "state" and event.data.get("code") == "retry_scheduled":
            click.echo(f"\n{event.data['message']}", err=True)
        elif event.event == "end":
            state = event.data["state"]
    return state


def run_generate(
    server: str, api_key: str | None, params: dict[str, Any], model_id: str | None, out: Path | None
) -> int:
    client = DreamForgeClient(server, api_key)
    try:
        job = client.create_job(params, model_id=model_id)
        try:
            click.echo(f"job {job['id']} queued ({job['count']} image(s))", err=True)
            state = _follow(client, job)
        except KeyboardInterrupt:
            # Ctrl-C: the server stops the job too, instead of spending a GPU on images
            # nobody waits for; the images already made stay with the job.
            canceled = client.cancel(job["id"])
            click.echo(f"\njob {job['id']} {canceled['state']}", err=True)
            return 130
        click.echo(
            f"\r{_bar(1.0 if state == 'succeeded' else client.job(job['id'])['progress'])}",
            err=True,
        )
        final = client.job(job["id"])
        for artifact in client.artifacts(job["id"]):
            if out is None:
                click.echo(artifact["url"])
                continue
            out.mkdir(parents=True, exist_ok=True)
            target = out / artifact["key"].rsplit("/", 1)[-1]
            target.write_bytes(client.download(artifact["url"]))
            click.echo(str(target))
        if final["state"] != "succeeded":
            error = final.get("error") or {}
            click.echo(
                f"job {final['state']}: {error.get('code')}: {error.get('message')}", err=True
            )
            return 1
        return 0
    finally:  # a refused request or an unreachable server: the command's error handler says so
        client.close()


def exit_with(code: int) -> None:
    sys.exit(code)
