"""Rewrites demo_sdxl_tiny.json: run it only when a change to the pixels is intended.

python -m tests.golden.regenerate
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import httpx

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess
from tests.e2e.test_sdxl_runner import GOLDEN, SDXL_ENV, SMALL, pixels, thumbnail
from tests.support.demo import create_demo

GRADIENT_64 = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAIAAAAlC+aJAAAAdElEQVR4nO3PwQnE"
    "MBDAwEu87r9iwxXhxxDQVCA97/v+vmzWWrrhyuy9dcOVmRndcKUBrQGtAa0BrQGtAa0BrQGtAa0BrQGtAa0BrQ"
    "GtAa0BrQGtAa0BrQGtAa0BrQGtAa0BrQGtAa0BrQHt8wPPOUc3XPkDqJkG4C9miBEAAAAASUVORK5CYII="
)

CASES = [
    {"seed": 1},
    {"seed": 42, "scheduler": "euler_a"},
    {"seed": 4294967295, "scheduler": "dpmpp_2m", "guidance": 3.5},
    {"seed": 7, "width": 128, "height": 64, "steps": 10, "negative_prompt": "blurry"},
    # image-to-image from a 64x64 gradient (tests.support.images.png_url), half the steps
    {"seed": 11, "init_image": GRADIENT_64, "strength": 0.5},
    # the upscale step: the 64x64 image enlarged to 128x128 and repainted (its image is kept)
    {"seed": 3, "upscale": {"factor": 2, "strength": 0.5, "steps": 4}},
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        create_demo(data_dir)
        server = ServerProcess(data_dir, SDXL_ENV)
        server.start()
        client = DreamForgeClient(server.url, timeout=120)
        try:
            cases = []
            for params in CASES:
                full = {"prompt": "a lighthouse at dawn", **SMALL, **params}
                job = client.create_job(full)
                list(client.stream(job["id"]))
                assert client.job(job["id"])["state"] == "succeeded", params
                artifact = client.artifacts(job["id"])[-1]  # the upscale step's, if any
                data = httpx.get(artifact["url"]).content
                digest = hashlib.sha256(pixels(data)).hexdigest()
                cases.append({"params": params, "thumbnail": thumbnail(data), "rgb_sha256": digest})
        finally:
            client.close()
            server.stop()
    GOLDEN.write_text(
        json.dumps(
            {
                "model": "demo-sdxl-tiny (dreamforge model create-demo)",
                "note": "thumbnail: the image box-averaged to 16x16, RGB (compared within a "
                "tolerance: exact pixels differ between CPU kinds); rgb_sha256: the exact decoded "
                "pixels on the machine that wrote this file, for reference; prompt 'a lighthouse "
                "at dawn' and the test's SMALL parameters unless a case overrides them",
                "cases": cases,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
