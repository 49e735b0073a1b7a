"""Model routing in the stack (ADR 0034): two workers, a fake runner whose model loads cost
time and show in the workers' metrics. Jobs go to the worker that holds their model warm,
and a job waits for that worker no longer than DREAMFORGE_ROUTING_MAX_WAIT_S while another
worker is idle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamforge_apps.benchmarks.routing import (
    SECOND_MODEL_ID,
    add_fake_model,
    model_loads,
    queue_waits_s,
    send_alternating,
    wait_all,
)
from dreamforge_apps.client import DreamForgeClient
from dreamforge_apps.models import FAKE_MODEL_ID
from tests.e2e.conftest import TEARDOWN_GRACE_S, wait_for_state
from tests.e2e.stack import StackProcesses
from tests.support.postgres import PostgresServer
from tests.support.seaweed import SeaweedS3

MAX_WAIT_S = 2.0
STEP_DELAY_S = 0.04


class TwoWorkers:
    def __init__(self, stack: StackProcesses, worker_urls: list[str]) -> None:
        self.stack = stack
        self.client = DreamForgeClient(stack.url)
        self.worker_urls = worker_urls

    def loads(self) -> int:
        return model_loads(self.worker_urls)


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
        add_fake_model(dsn)
        stack.start()
        urls = [stack.workers[0][1], stack.start_worker()]
        yield TwoWorkers(stack, urls)
    finally:
        stack.stop(TEARDOWN_GRACE_S)
        postgres_server.drop(database)


def test_jobs_alternating_between_two_models_load_each_model_once(
    two_workers: TwoWorkers,
) -> None:
    before = two_workers.loads()
    client = two_workers.client
    ids = send_alternating(client, 20, 0.1, (FAKE_MODEL_ID, SECOND_MODEL_ID))
    jobs = wait_all(client, ids, timeout_s=60)

    assert [j["state"] for j in jobs] == ["succeeded"] * 20
    assert two_workers.loads() - before <= 2  # without routing: up to one per switch


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
