"""What `dreamforge generate` adds to a job beside the prompt: an input image and mask, LoRAs,
and the upscale step, turned into the request's `params` fields."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

import click

#: Sent as they are: the server reads an earlier job's image itself.
ARTIFACT_PREFIX = "artifact:"


def image_field(value: str | None) -> str | None:
    """A local picture as a `data:` URL, or an `artifact:<job_id>/<item_index>` reference."""
    if value is None or value.startswith(ARTIFACT_PREFIX):
        return value
    path = Path(value)
    if not path.is_file():
        raise click.BadParameter(f"{value} is not a file (nor an artifact:<job_id>/<index>)")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # The server tells the format by the bytes, so an odd name costs nothing.
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def lora_entries(values: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """`ID` or `ID:SCALE` for each `--lora`."""
    entries: list[dict[str, Any]] = []
    for value in values:
        model_id, _, scale = value.partition(":")
        entry: dict[str, Any] = {"model_id": model_id}
        if scale:
            try:
                entry["scale"] = float(scale)
            except ValueError:
                raise click.BadParameter(f"{value}: the scale after ':' is not a number") from None
        entries.append(entry)
    return entries or None


def upscale_field(
    factor: float | None, strength: float, steps: int | None, job_steps: int | None
) -> dict[str, Any] | None:
    """The upscale step's settings; its steps default to the job's own, else 20."""
    if factor is None:
        return None
    return {"factor": factor, "strength": strength, "steps": steps or job_steps or 20}
