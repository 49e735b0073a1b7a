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
    "--init-image",
    default=None,
    help="Image-to-image: a PNG, JPEG or WebP file, or artifact:<job_id>/<item_index>.",
)
@click.option("--mask", "mask_image", default=None, help="Inpainting mask (white: repaint).")
@click.option("--strength", type=float, default=None, help="How much of the input is repainted.")
@click.option("--lora", "loras", multiple=True, metavar="ID[:SCALE]", help="A LoRA (repeatable).")
@click.option("--upscale", "upscale_factor", type=float, default=None, help="Hires fix factor.")
@click.option("--upscale-strength", default=0.5, show_default=True, type=float)
@click.option("--upscale-steps", type=int, default=None, help="[default: the job's steps]")
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
    init_image: str | None,
    mask_image: str | None,
    strength: float | None,
    loras: tuple[str, ...],
    upscale_factor: float | None,
    upscale_strength: float,
    upscale_steps: int | None,
    out: Path | None,
    server: str,
    api_key: str | None,
) -> None:
    """Generate images on a running server, showing progress from its event stream."""
    from dreamforge_apps.cli.generate_inputs import image_field, lora_entries, upscale_field
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
        "init_image": image_field(init_image),
        "mask_image": image_field(mask_image),
        "strength": strength,
        "loras": lora_entries(loras),
        "upscale": upscale_field(upscale_factor, upscale_strength, upscale_steps, steps),
    }
    sys.exit(
        run_generate(
            server, api_key, {k: v for k, v in params.items() if v is not None}, model_id, out
        )
    )
