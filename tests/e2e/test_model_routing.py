"""Model routing in the stack (ADR 0034): two workers, a fake runner whose model loads cost
time and show in the workers' metrics. Jobs go to the worker that holds their model warm
(`dreamforge bench routing` counts the loads), and a job waits for that worker no longer than
DREAMFORGE_ROUTING_MAX_WAIT_S while another worker is idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamforge_apps.benchmarks.routing import queue_waits_s
from dreamforge_apps.client import DreamForgeClient
from dreamforge_apps.models import FAKE_MODEL_ID
from tests.e2e.conftest import TEARDOWN_GRACE_S, wait_for_state
from tests.e2e.stack import StackProcesses
from tests.support.postgres import PostgresServer
from tests.support.seaweed import SeaweedS3
from tests.support.services import REDIS_URL

MAX_WAIT_S = 2.0
STEP_DELAY_S = 0.04


class TwoWorkers:
    def __init__(self, stack: StackProcesses) -> None:
        self.stack = stack
        self.client = DreamForgeClient(stack.url)


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    postgres_template: str,
    seaweed_s3: SeaweedS3,
) -> Iterator[TwoWorkers]:
    database = postgres_server.create("dreamforge_test", template=postgres_template)
    dsn = postgres_server.dsn_for(database)
    stack = StackProcesses(
        Path(tmp_path_factory.mktemp("routing")),
        dsn,
        seaweed_s3,
        DREAMFORGE_FAKE_STEP_DELAY_S=str(STEP_DELAY_S),
        DREAMFORGE_FAKE_LOAD_S="0.3",
        DREAMFORGE_ROUTING_MAX_WAIT_S=str(MAX_WAIT_S),
    )
    try:
        stack.start()
        stack.start_worker()
        yield TwoWorkers(stack)
    finally:
        stack.stop(TEARDOWN_GRACE_S)
        postgres_server.drop(database)


def test_bench_routing_loads_each_model_once_with_routing_on(
    tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3
) -> None:
    """`dreamforge bench routing`, small: two workers of its own per mode, jobs alternating
    between two models; with routing on each model loads once, not once per switch."""
    out = tmp_path / "routing.json"
    env = {
        **os.environ,
        "DREAMFORGE_DATABASE_URL": postgres_dsn,
        "DREAMFORGE_REDIS_URL": REDIS_URL,
        "DREAMFORGE_S3_ENDPOINT": seaweed_s3.endpoint,
        "DREAMFORGE_S3_ACCESS_KEY": seaweed_s3.access_key,
        "DREAMFORGE_S3_SECRET_KEY": seaweed_s3.secret_key,
    }
    done = subprocess.run(
        [
            sys.executable, "-m", "dreamforge_apps.cli", "bench", "routing", "--jobs", "16",
            "--interval-ms", "100", "--load-s", "0.3", "--json-out", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    on, off = json.loads(out.read_text())["runs"]
    assert (on["routing"], off["routing"]) == ("on", "off")
    assert on["succeeded"] == off["succeeded"] == 16
    assert on["model_loads"] <= 2  # without routing: up to one per switch
    assert off["model_loads"] >= 2
    assert "model loads per 100 jobs" in done.stdout.splitlines()[-1]


def test_a_job_waits_for_its_warm_worker_no_longer_than_the_bound(
    two_workers: TwoWorkers,
) -> None:
    client = two_workers.client
    params = {"prompt": "long", "width": 64, "height": 64}
    long = client.create_job({**params, "steps": 150}, model_id=FAKE_MODEL_ID)  # about 6 s
    wait_for_state(client, long["id"], {"running"})
    short = client.create_job({**params, "steps": 2}, model_id=FAKE_MODEL_ID)

    done = wait_for_state(client, short["id"], {"succeeded"}, timeout=30)
    long_now = client.job(long["id"])
    waited = queue_waits_s([done])[0]

    assert waited >= MAX_WAIT_S * 0.75  # it was left, for a while, to the warm busy worker
    assert long_now["state"] == "running"  # but did not wait for it: the idle worker ran it
    wait_for_state(client, long["id"], {"succeeded"}, timeout=30)
