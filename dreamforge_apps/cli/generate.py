"""`dreamforge generate`: a job on a running server, followed on its event stream."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dreamforge_apps.cli.server_options import server_options


@click.command()
@click.argument("prompt")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--negative", "negative_prompt", default=None, help="Negative prompt.")
@click.option("--seed", type=int, default=None)
@click.option("--width", type=int, default=None)
@click.option("--height", type=int, default=None)
@click.option("--steps", type=int, default=None)
@click.option("--guidance", type=float, default=None)
@click.option("--scheduler", default=None)
@click.option("--preset", default=None)
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), default=None)
@click.option("--model", "model_id", default=None, help="Model id (default: the server's).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download the images here instead of printing their URLs.",
)
@server_options
def generate(
    prompt: str,
    count: int,
    negative_prompt: str | None,
    seed: int | None,
    width: int | None,
    height: int | None,
    steps: int | None,
    guidance: float | None,
    scheduler: str | None,
    preset: str | None,
    fmt: str | None,
    model_id: str | None,
    out: Path | None,
    server: str,
    api_key: str | None,
) -> None:
    """Generate images on a running server, showing progress from its event stream."""
    from dreamforge_apps.cli.generate_run import run_generate

    params = {
        "prompt": prompt,
        "count": count,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "width": width,
        "height": height,
        "steps": steps,
        "guidance": guidance,
        "scheduler": scheduler,
        "preset": preset,
        "format": fmt,
    }
    sys.exit(
        run_generate(
            server, api_key, {k: v for k, v in params.items() if v is not None}, model_id, out
        )
    )
