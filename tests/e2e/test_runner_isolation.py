"""No job ever receives another job's image, even when a job's attempt ends in the middle of
an item (here: its progress write fails because the database is locked) while the runner
process is still generating that item."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state
from tests.e2e.test_sdxl_runner import demo_sdxl_server

pytestmark = pytest.mark.embedded_only

LOCK_HOLD_S = 7.0  # longer than SQLite's busy timeout (5 s): the progress write fails


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with demo_sdxl_server(tmp_path_factory.mktemp("isolation") / "data") as server:
        yield server


def _image(client: DreamForgeClient, job_id: str) -> tuple[dict[str, object], Image.Image]:
    (artifact,) = client.artifacts(job_id)
    image = Image.open(io.BytesIO(httpx.get(str(artifact["url"])).content))
    image.load()
    return artifact, image


def test_a_stalled_progress_write_never_hands_the_old_image_to_the_next_job(
    server: ServerProcess,
) -> None:
    client = DreamForgeClient(server.url, timeout=120)
    slow = client.create_job(
        {"prompt": "[[slow:0.3]] a lighthouse", "width": 64, "height": 64, "steps": 30, "seed": 1}
    )
    for event in client.stream(slow["id"]):
        if event.event == "progress" and float(event.data.get("progress", 0)) > 0:
            break  # the runner is denoising the slow item

    lock = sqlite3.connect(server.data_dir / "dreamforge.sqlite3", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the database
    time.sleep(LOCK_HOLD_S)
    lock.execute("ROLLBACK")
    lock.close()

    params = {"prompt": "a red fox", "width": 96, "height": 80, "steps": 4, "seed": 7}
    other = client.create_job(params)
    done = wait_for_state(client, other["id"], {"succeeded", "failed"}, timeout=120)
    assert done["state"] == "succeeded", done
    artifact, image = _image(client, other["id"])
    assert (artifact["width"], artifact["height"]) == (96, 80)
    assert image.size == (96, 80)

    # The same request again, on a runner with nothing left over, gives the same pixels.
    again = client.create_job(params)
    assert (
        wait_for_state(client, again["id"], {"succeeded", "failed"}, timeout=120)["state"]
        == "succeeded"
    )
    assert _image(client, again["id"])[1].tobytes() == image.tobytes()
    client.close()
