"""A worker with model routing (ADR 0034): it takes the queued job of a model it holds warm,
passes its turn (the message goes back) while every job waits for another worker that holds
its model, takes such a job once it has waited its bound, and advertises what it holds."""

from __future__ import annotations

import time
from dataclasses import replace

from dreamforge_adapters.memory import MemoryWarmRoster
from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.runner import (
    NOTE_MODEL_LOADED,
    GeneratedImage,
    GenerationRequest,
    RunnerListener,
)
from dreamforge_core.use_cases.job_claim import PASS_PAUSE_S
from dreamforge_core.use_cases.model_routing import ModelRouting
from dreamforge_core.use_cases.run_generate_job import RunGenerateJob

from .conftest import MODEL_ID, SMALL, Harness, StubRunner, make_model

OTHER = "other-model"


def _create(h: Harness, model_id: str) -> str:
    h.clock.advance(0.001)
    body = {"model_id": model_id, "params": {"prompt": "p", **SMALL}}
    return h.create(body=body).job.id


def _worker(h: Harness, roster: MemoryWarmRoster) -> tuple[RunGenerateJob, ModelRouting]:
    routing = ModelRouting(roster, worker_id="me", max_wait_s=60, capacity=2)
    return RunGenerateJob(h.ports, h.retry, generator="test", routing=routing), routing


def test_a_turn_goes_to_the_job_of_a_warm_model_and_the_passed_job_keeps_a_message(
    harness: Harness,
) -> None:
    harness.registry.upsert(make_model(id=OTHER))
    older, warm = _create(harness, MODEL_ID), _create(harness, OTHER)
    roster = MemoryWarmRoster()
    roster.advertise("busy", [MODEL_ID], ttl_s=60)
    work, routing = _worker(harness, roster)
    routing.reported([OTHER])
    harness.queue.enqueued.clear()

    work(older)  # the older job's message

    assert [c.job_id for c in harness.runner.calls] == [warm]
    assert harness.queue.enqueued == [(older, 0.0)]


def test_a_worker_passes_while_jobs_wait_for_their_warm_worker_then_takes_them(
    harness: Harness,
) -> None:
    waiting = _create(harness, MODEL_ID)
    roster = MemoryWarmRoster()
    roster.advertise("busy", [MODEL_ID], ttl_s=60)
    work, routing = _worker(harness, roster)
    harness.queue.enqueued.clear()

    began = time.monotonic()
    work(waiting)
    assert harness.runner.calls == []  # passed: the job waits for the warm worker
    assert harness.queue.enqueued == [(waiting, 0.0)]  # its message went back
    assert time.monotonic() - began >= PASS_PAUSE_S * 0.9  # before the next look

    harness.clock.advance(60)  # past the bound: this worker takes it
    work(waiting)
    assert [c.job_id for c in harness.runner.calls] == [waiting]
    assert routing.here == [MODEL_ID]
    assert roster.warm_elsewhere("busy") == {MODEL_ID}  # advertised to the others
    routing.close()
    assert roster.warm_elsewhere("busy") == frozenset()


class NotingRunner(StubRunner):
    """Reports a load that leaves two models warm, as the SDXL runner's child does."""

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        listener.note(NOTE_MODEL_LOADED, "loaded", {"seconds": 1.0, "warm": [MODEL_ID, OTHER]})
        return super().generate(request, listener)


def test_the_runners_load_note_says_what_is_warm_here(harness: Harness) -> None:
    job = _create(harness, MODEL_ID)
    routing = ModelRouting(MemoryWarmRoster(), worker_id="me", max_wait_s=60)
    ports = replace(harness.ports, runner=NotingRunner())
    RunGenerateJob(ports, harness.retry, generator="test", routing=routing)(job)

    assert routing.here == [MODEL_ID, OTHER]  # the runner's word, beyond the claimed model


class DownRoster(MemoryWarmRoster):
    def warm_elsewhere(self, worker_id: str) -> frozenset[str]:
        raise Unavailable("redis is down")


def test_a_roster_that_cannot_be_read_leaves_the_worker_taking_jobs(harness: Harness) -> None:
    job = _create(harness, MODEL_ID)
    routing = ModelRouting(DownRoster(), worker_id="me", max_wait_s=60)
    RunGenerateJob(harness.ports, harness.retry, generator="test", routing=routing)(job)

    assert [c.job_id for c in harness.runner.calls] == [job]
