"""The main path over real HTTP: create a batch, follow it, collect and check its images."""

from __future__ import annotations

import json
import time
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import pytest

from dreamforge_adapters.imaging.reader import read_embedded_metadata
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """Each test reads only the jobs it created: one server per deployment serves the whole
    module."""
    return shared_server


def _ndjson(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_batch_of_five_yields_five_images_with_distinct_seeds_and_one_story(
    server: ServerProcess, client: DreamForgeClient
) -> None:
    job = client.create_job(
        {"prompt": "a lighthouse at dawn", "count": 5, "width": 64, "height": 64, "steps": 6}
    )
    assert job["state"] == "queued"
    assert job["count"] == 5
    assert set(job["links"]) == {"self", "artifacts", "logs", "progress", "stream"}

    streamed = list(client.stream(job["id"]))
    final = client.job(job["id"])
    assert final["state"] == "succeeded"
    assert final["progress"] == 1.0
    assert final["started_at"]
    assert final["finished_at"]

    artifacts = client.artifacts(job["id"])
    assert sorted(a["item_index"] for a in artifacts) == [0, 1, 2, 3, 4]
    seeds = [a["seed"] for a in artifacts]
    assert len(set(seeds)) == 5
    for artifact in artifacts:
        assert urlsplit(artifact["url"]).scheme in ("http", "https")  # absolute
        assert f"_{artifact['item_index']}_64x64_{artifact['seed']}.png" in artifact["key"]
        response = httpx.get(artifact["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert len(response.content) == artifact["size_bytes"]
        meta = read_embedded_metadata(response.content)
        assert meta["seed"] == str(artifact["seed"])
        assert f"Seed: {artifact['seed']}" in meta["parameters"]
        assert meta["prompt"] == "a lighthouse at dawn"

    # Logs, progress and the stream tell the same story.
    logs = _ndjson(httpx.get(f"{server.url}/v1/jobs/{job['id']}/logs").text)
    assert [e["seq"] for e in logs] == list(range(1, len(logs) + 1))
    assert [(e.id, e.data["code"]) for e in streamed] == [(e["seq"], e["code"]) for e in logs]
    assert streamed[-1].event == "end"
    started = [e for e in logs if e["code"] == "item_started"]
    assert sorted(e["seed"] for e in started) == sorted(seeds)
    assert {e.data["item_index"] for e in streamed if e.event == "artifact"} == {0, 1, 2, 3, 4}
    progress_events = [e.data["progress"] for e in streamed if e.event == "progress"]
    assert progress_events == sorted(progress_events)
    assert all("item_index" in e.data for e in streamed if e.event == "progress")

    progress = httpx.get(f"{server.url}/v1/jobs/{job['id']}/progress").json()
    assert progress["progress"] == 1.0
    assert progress["state"] == "succeeded"
    assert [i["state"] for i in progress["items"]] == ["succeeded"] * 5
    assert abs(sum(s["weight"] * s["progress"] for s in progress["stages"]) - 1.0) < 1e-9


def test_each_seed_is_drawn_when_its_item_starts(
    client: DreamForgeClient, server: ServerProcess
) -> None:
    job = client.create_job({"prompt": "p", "count": 3, "width": 64, "height": 64, "steps": 3})
    list(client.stream(job["id"]))
    logs = _ndjson(httpx.get(f"{server.url}/v1/jobs/{job['id']}/logs").text)
    position = {(e["code"], e["item_index"], e.get("step")): n for n, e in enumerate(logs)}
    for k in range(3):
        started = position[("item_started", k, None)]
        first_step = position[("item_progress", k, 1)]
        assert started < first_step
        if k:  # item k's seed appears only once item k-1 finished denoising
            assert position[("item_progress", k - 1, 3)] < started


def test_given_seed_is_honoured_for_one_image_and_ignored_with_a_warning_for_many(
    client: DreamForgeClient, server: ServerProcess
) -> None:
    one = client.create_job({"prompt": "p", "seed": 42, "width": 64, "height": 64, "steps": 2})
    many = client.create_job(
        {"prompt": "p", "seed": 42, "count": 2, "width": 64, "height": 64, "steps": 2}
    )
    list(client.stream(one["id"]))
    list(client.stream(many["id"]))
    assert [a["seed"] for a in client.artifacts(one["id"])] == [42]
    logs = _ndjson(httpx.get(f"{server.url}/v1/jobs/{many['id']}/logs").text)
    assert any(e["code"] == "seed_ignored" and e["level"] == "warning" for e in logs)


def test_jpeg_carries_the_parameters_in_exif(client: DreamForgeClient) -> None:
    job = client.create_job(
        {
            "prompt": "café, night: rain",
            "format": "jpg",
            "width": 64,
            "height": 64,
            "steps": 2,
            "seed": 7,
        }
    )
    list(client.stream(job["id"]))
    [artifact] = client.artifacts(job["id"])
    assert artifact["content_type"] == "image/jpeg"
    data = httpx.get(artifact["url"]).content
    meta = read_embedded_metadata(data)
    assert "Seed: 7" in meta["parameters"]
    assert meta["parameters"].startswith("café, night: rain")


def test_embed_metadata_false_writes_none(client: DreamForgeClient) -> None:
    job = client.create_job(
        {"prompt": "p", "embed_metadata": False, "width": 64, "height": 64, "steps": 2}
    )
    list(client.stream(job["id"]))
    [artifact] = client.artifacts(job["id"])
    assert read_embedded_metadata(httpx.get(artifact["url"]).content) == {}


def _tampered(url: str) -> str:
    """The same URL with one character of its signature changed."""
    parts = urlsplit(url)
    query = []
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if name.lower().endswith("signature"):
            value = ("1" if value[0] == "0" else "0") + value[1:]
        query.append(f"{name}={value}")
    return parts._replace(query="&".join(query)).geturl()


def test_signed_urls_expire_and_reject_tampering(
    client: DreamForgeClient, server: ServerProcess
) -> None:
    job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 2})
    list(client.stream(job["id"]))
    [artifact] = client.artifacts(job["id"], ttl=3)  # seconds: room for a busy machine
    assert httpx.get(artifact["url"]).status_code == 200
    denied = httpx.get(_tampered(artifact["url"]))
    assert denied.status_code == 403
    if denied.headers.get("content-type", "").startswith("application/json"):
        assert denied.json()["error"]["code"] == "forbidden"  # served by Dream Forge itself
    expires_at = datetime.fromisoformat(artifact["url_expires_at"]).timestamp()
    time.sleep(max(0.0, expires_at - time.time()) + 1.1)  # past it, whatever the rounding
    expired = httpx.get(artifact["url"])
    assert expired.status_code == 403
    if expired.headers.get("content-type", "").startswith("application/json"):
        assert "expired" in expired.json()["error"]["message"]
    unsigned = artifact["url"].split("?")[0]
    assert httpx.get(unsigned).status_code == 403
    [long_lived] = client.artifacts(job["id"], ttl=10**9)
    assert long_lived["url_expires_at"] > artifact["url_expires_at"]
