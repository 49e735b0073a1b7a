"""OpenTelemetry traces of a running server (console exporter, every trace kept): a request
continues the caller's trace, and the job's attempt and images are spans of their own trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def spans_in(log: Path) -> list[dict[str, Any]]:
    """The spans the console exporter wrote among the process's other output."""
    text, decoder, found, at = log.read_text(), json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        if isinstance(value, dict) and "context" in value and "name" in value:
            found.append(value)
        at = end
    return found


def test_a_request_and_its_job_are_traced(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        {
            "DREAMFORGE_TRACING": "console",
            "DREAMFORGE_TRACE_SAMPLE_RATIO": "1",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        },
    )
    server.start()
    client = DreamForgeClient(server.url)
    try:
        created = httpx.post(
            f"{server.url}/v1/jobs",
            json={"params": {"prompt": "a lighthouse", "count": 2}},
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
        assert created.status_code == 202
        done = wait_for_state(client, created.json()["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded"
    finally:
        client.close()
        server.stop()  # flushes the spans
    spans = spans_in(server.log)
    request = next(s for s in spans if s["name"] == "HTTP POST")
    assert request["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert request["attributes"]["url.path"] == "/v1/jobs"
    attempt = next(s for s in spans if s["name"] == "dreamforge.job.attempt")
    assert attempt["attributes"]["job_id"] == done["id"]
    images = [s for s in spans if s["name"] == "dreamforge.image.generate"]
    assert len(images) == 2
    assert {s["parent_id"] for s in images} == {attempt["context"]["span_id"]}
    assert all(s["status"]["status_code"] == "UNSET" for s in [request, attempt, *images])
