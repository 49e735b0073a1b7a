"""Every metric of the service on a running deployment after one download job and one
generate job (the real SDXL runner on a model the download installed): the API's `/metrics`
and, in the stack, the worker's own."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import wait_for_state
from tests.e2e.hub_fixtures import CIVITAI_MODEL
from tests.e2e.test_model_download_jobs import download_server, request_download
from tests.support.fake_hub import FakeHub

#: Families of the API process (in the embedded server, the one process).
API = (
    "dreamforge_errors_total",
    "dreamforge_jobs",
    "dreamforge_queue_depth",
    "dreamforge_http_request_duration_seconds_count",
    "process_resident_memory_bytes",
)
#: Families of the process that runs jobs (the embedded server, or a stack worker).
EXECUTION = (
    "dreamforge_job_duration_seconds_count",
    "dreamforge_job_images_count",
    "dreamforge_item_duration_seconds_count",
    "dreamforge_items_total",
    "dreamforge_queue_wait_seconds_count",
    "dreamforge_model_load_seconds_count",
    "dreamforge_model_download_bytes_total",
    "dreamforge_model_download_seconds_count",
    "dreamforge_runner_memory_bytes",
    "dreamforge_runner_peak_memory_bytes_count",
    "dreamforge_webhook_deliveries_total",
)


def samples(text: str) -> dict[str, list[tuple[str, float]]]:
    """Series name -> (labels, value) of a Prometheus text exposition."""
    found: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if match:
            name, labels, value = match.groups()
            found.setdefault(name, []).append((labels or "", float(value)))
    return found


def test_every_metric_is_served_after_one_job(
    make_server: Callable[..., Any], hub: FakeHub, deployment: str
) -> None:
    server = download_server(make_server, hub)
    client = DreamForgeClient(server.url, timeout=120)
    try:
        download = request_download(client, f"civitai:{CIVITAI_MODEL}").json()
        done = wait_for_state(client, download["id"], {"succeeded", "failed"}, timeout=180)
        assert done["state"] == "succeeded", done
        job = client.create_job(
            {"prompt": "a lighthouse", "width": 256, "height": 256, "steps": 2, "count": 2},
            model_id=str(done["model_id"]),
        )
        final = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=240)
        assert final["state"] == "succeeded", final
        client.http.post("/v1/jobs", json={"params": {}})  # one error for the error counter
        api = samples(httpx.get(f"{server.url}/metrics").text)
        execution = api
        if deployment == "stack":
            worker_url = server.stack.workers[0][1]
            execution = samples(httpx.get(f"{worker_url}/metrics").text)
            assert execution.get("dreamforge_jobs"), "the worker reports jobs by state too"
    finally:
        client.close()

    missing = [name for name in API if not api.get(name)]
    missing += [name for name in EXECUTION if not execution.get(name)]
    assert missing == []
    depth_queues = {labels for labels, _ in api["dreamforge_queue_depth"]}
    assert any('queue="gpu"' in labels for labels in depth_queues)
    assert any('queue="io"' in labels for labels in depth_queues)
    assert ('{state="succeeded"}', 2.0) in execution["dreamforge_items_total"]
    assert ('{state="succeeded"}', 1.0) in execution["dreamforge_job_images_count"]
    assert execution["dreamforge_model_download_bytes_total"][0][1] > 0
    assert any(
        'type="model_download"' in labels
        for labels, _ in execution["dreamforge_job_duration_seconds_count"]
    )
    memory = dict(execution["dreamforge_runner_memory_bytes"])
    assert all(value > 0 for value in memory.values()), memory


#: Label values known before anything happens, whose series must exist (at 0) from the start
#: so that `rate()` and `increase()` work before the first event.
ERROR_CODES = (
    "invalid_input",
    "not_found",
    "unauthorized",
    "forbidden",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "idempotency_conflict",
    "unavailable",
    "internal",
    "timeout",
    "oom",
    "provider_error",
    "storage_error",
)
JOB_STATES = ("queued", "running", "succeeded", "failed")


def _labels(text: str) -> frozenset[str]:
    return frozenset(re.findall(r'\w+="[^"]*"', text))


def _zero(found: dict[str, list[tuple[str, float]]], name: str, labels: str) -> bool:
    """The series `name{labels}` is there with the value 0 (labels in any order)."""
    return (_labels(labels), 0.0) in {(_labels(have), value) for have, value in found.get(name, [])}


def test_counters_of_known_labels_exist_at_zero_from_the_start(
    server: Any, deployment: str
) -> None:
    api = samples(httpx.get(f"{server.url}/metrics").text)
    processes = {"api": api}
    execution = api
    if deployment == "stack":
        execution = samples(httpx.get(f"{server.stack.workers[0][1]}/metrics").text)
        processes["worker"] = execution

    missing = [
        f"{process}: dreamforge_errors_total{{code={code!r}}}"
        for process, found in processes.items()
        for code in ERROR_CODES
        if not _zero(found, "dreamforge_errors_total", f'{{code="{code}"}}')
    ]
    missing += [
        f"{process}: dreamforge_jobs{{state={state!r}}}"
        for process, found in processes.items()
        for state in JOB_STATES
        if not _zero(found, "dreamforge_jobs", f'{{state="{state}"}}')
    ]
    expected_execution = [
        ("dreamforge_items_total", '{state="succeeded"}'),
        ("dreamforge_items_total", '{state="failed"}'),
        ("dreamforge_job_images_count", '{state="succeeded"}'),
        ("dreamforge_job_images_count", '{state="failed"}'),
    ] + [
        ("dreamforge_job_duration_seconds_count", f'{{type="{job_type}",state="{state}"}}')
        for job_type in ("generate", "model_download")
        for state in ("succeeded", "failed")
    ]
    missing += [
        f"{name}{labels}"
        for name, labels in expected_execution
        if not _zero(execution, name, labels)
    ]
    assert missing == []
    if deployment == "stack":  # the API runs no jobs: it has no job series to show
        assert not api.get("dreamforge_items_total")
