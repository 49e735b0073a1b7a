"""`dreamforge bench cancel` against a running server with API keys: it cancels queued and
running jobs on that server and prints and writes their latency figures."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.conftest import ServerProcess
from tests.support.bench import run_bench

CANCELS = 3
KEY = "bench-key"


def test_bench_cancel_cancels_jobs_on_the_server_and_reports_their_latency(
    tmp_path: Path,
) -> None:
    # 20 ms steps: a 4-image job of 30 steps runs 2.4 s, far longer than its cancel takes.
    server = ServerProcess(
        tmp_path / "server", {"DREAMFORGE_API_KEYS": KEY, "DREAMFORGE_FAKE_STEP_DELAY_S": "0.02"}
    )
    server.start()
    try:
        out = tmp_path / "cancel.json"
        options = ("--url", server.url, "--api-key", KEY, "--cancels", str(CANCELS))
        figures, stdout = run_bench("cancel", *options, json_out=out, timeout=60)
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()

    assert stdout.startswith("machine: ")
    assert re.search(r"^  queued +cancel → canceled seen +p50 [\d.]+ ms", stdout, re.M)
    assert re.search(r"^  running +cancel → canceled seen +p50 [\d.]+ ms", stdout, re.M)
    assert re.search(r"cancel → next job running +p50 [\d.]+ ms", stdout)

    assert figures["models"] == ["fake-sdxl"]
    for kind in ("queued", "running"):
        got = figures[kind]
        assert got["cancels"] == CANCELS
        assert 0 < got["p50_ms"] <= got["p99_ms"] <= got["max_ms"] < 5000
    running = figures["running"]
    # The next job starts once the canceled one stops at its next step, long before the
    # 2.4 s that the canceled job would otherwise have run on.
    assert 0 < running["next_job_started_p50_ms"] <= running["next_job_started_max_ms"] < 1000
    assert "next_job_started_p50_ms" not in figures["queued"]

    # What the server went through: the measured cancels, the long job that kept the worker
    # busy for the queued ones and the last running job, all canceled; none ran to the end.
    states = dict(re.findall(r'^dreamforge_jobs\{state="(\w+)"\} (\d+)', metrics, re.M))
    assert states == {
        "queued": "0",
        "running": "0",
        "succeeded": "0",
        "failed": "0",
        "canceled": str(2 * CANCELS + 2),
    }
