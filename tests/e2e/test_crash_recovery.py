"""`kill -9` mid-batch, restart: the job completes with exactly `count` artifacts."""

from __future__ import annotations

from typing import Any

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_artifacts, wait_for_state


def _kill_nine_and_restart(
    server: ServerProcess, client: DreamForgeClient, job_id: str
) -> tuple[DreamForgeClient, dict[str, Any]]:
    """kill -9 mid-job, a fresh start on the same data, and the job once it has ended."""
    server.kill9()
    client.close()
    server.start()
    client = DreamForgeClient(server.url)
    return client, wait_for_state(client, job_id, {"succeeded", "failed"})


def test_kill_nine_mid_batch_then_restart_completes_the_job(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_FAKE_STEP_DELAY_S="0.02")  # type: ignore[operator]
    server.start()
    client = DreamForgeClient(server.url)
    job = client.create_job({"prompt": "p", "count": 5, "width": 64, "height": 64, "steps": 10})

    before = wait_for_artifacts(client, job["id"], 2)
    client, final = _kill_nine_and_restart(server, client, job["id"])
    assert final["state"] == "succeeded", final
    artifacts = client.artifacts(job["id"])
    assert sorted(a["item_index"] for a in artifacts) == [0, 1, 2, 3, 4]
    assert len({a["seed"] for a in artifacts}) == 5
    after = {a["item_index"]: a for a in artifacts}
    for index, artifact in before.items():  # finished items were not generated again
        assert after[index]["id"] == artifact["id"]
        assert after[index]["sha256"] == artifact["sha256"]
    assert len(server.stored_keys(job["id"])) == 5  # no orphaned file
    codes = [e.data["code"] for e in client.stream(job["id"])]
    assert "job_requeued" in codes
    client.close()


def test_kill_nine_in_the_upscale_step_resumes_there(make_server: object) -> None:
    """The generated images survive; only the upscale step's unfinished items run again."""
    server: ServerProcess = make_server(DREAMFORGE_FAKE_STEP_DELAY_S="0.05")  # type: ignore[operator]
    server.start()
    client = DreamForgeClient(server.url)
    upscale = {"factor": 2, "strength": 1, "steps": 20}
    job = client.create_job({"prompt": "p", "count": 2, "width": 64, "height": 64, "steps": 2,
                             "upscale": upscale})  # fmt: skip

    wait_for_artifacts(client, job["id"], 3)  # both generated, one upscaled
    before = client.artifacts(job["id"])
    client, final = _kill_nine_and_restart(server, client, job["id"])
    assert final["state"] == "succeeded", final
    assert [s["attempts"] for s in final["steps"]] == [1, 2]
    after = client.artifacts(job["id"])
    assert [(a["step"], a["item_index"]) for a in after] == [
        ("generate", 0), ("generate", 1), ("upscale", 0), ("upscale", 1)
    ]  # fmt: skip
    assert [a["id"] for a in after[:3]] == [a["id"] for a in before[:3]]  # kept, not redone
    assert len(server.stored_keys(job["id"])) == 4  # no orphaned file
    client.close()
