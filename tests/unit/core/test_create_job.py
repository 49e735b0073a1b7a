"""CreateJob: request validation, nothing stored on failure, idempotent creation (NFR-011).

It is one module because validation, storing nothing on failure and idempotency are all what
one CreateJob call promises, checked through one harness.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamforge_core.domain.caller import Caller
from dreamforge_core.domain.job import JobState
from dreamforge_core.errors import IdempotencyConflict, InvalidInput
from dreamforge_core.use_cases.create_job import CreateJobCommand

from .conftest import (
    CHECKPOINT_HASH,
    IDEMPOTENCY_WINDOW_S,
    MODEL_ID,
    SMALL,
    Harness,
    HarnessFactory,
    make_model,
)


def body(prompt: str = "a lighthouse", **params: Any) -> dict[str, Any]:
    return {"params": {"prompt": prompt, **SMALL, **params}}


def nothing_stored(h: Harness) -> bool:
    return h.job_count() == 0 and h.queue.enqueued == []


def fields_of(error: InvalidInput) -> list[str]:
    return [e["field"] for e in error.details["errors"]]


def test_a_valid_request_is_stored_queued_and_enqueued_once(harness: Harness) -> None:
    result = harness.create(body=body(count=2))
    job = result.job
    assert result.replayed is False
    assert job.state is JobState.QUEUED
    assert (job.type, job.provider, job.model_id) == (
        "generate",
        "local-sdxl-epicrealism",
        MODEL_ID,
    )
    assert job.params.count == 2
    assert job.params.scheduler == "dpmpp_2m_karras"  # filled from the model's defaults
    assert harness.queue.enqueued == [(job.id, 0.0)]
    assert harness.repo.count_by_state() == {
        "queued": 1, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0
    }  # fmt: skip
    [created] = harness.events(job.id)
    assert created.code == "job_created"
    assert created.data == {"state": "queued", "count": 2}
    assert job.created_at == harness.clock.now()


def test_explicit_top_level_defaults_are_accepted(harness: Harness) -> None:
    result = harness.create(
        body={
            "type": "generate",
            "provider": "local-sdxl-epicrealism",
            "model_id": MODEL_ID,
            "params": {"prompt": "p"},
        }
    )
    assert result.job.model_id == MODEL_ID


@pytest.mark.parametrize(
    ("request_body", "fields"),
    [
        ("not an object", ["body"]),
        ([{"params": {}}], ["body"]),
        ({}, ["params"]),
        ({"params": {"prompt": "p"}, "priority": 1}, ["priority"]),
        ({"type": "img2img", "params": {"prompt": "p"}}, ["type"]),
        ({"provider": "openai", "params": {"prompt": "p"}}, ["provider"]),
        ({"model_id": 5, "params": {"prompt": "p"}}, ["model_id"]),
        ({"model_id": "no-such-model", "params": {"prompt": "p"}}, ["model_id"]),
        ({"params": "prompt=p"}, ["params"]),
        ({"params": {"prompt": "", "count": 0}}, ["params.prompt", "params.count"]),
        (
            {"type": "x", "provider": "y", "extra": 1},
            ["extra", "type", "provider", "params"],
        ),
    ],
)
def test_an_invalid_request_names_its_fields_and_stores_nothing(
    harness: Harness, request_body: Any, fields: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        harness.create(body=request_body)
    assert sorted(fields_of(caught.value)) == sorted(fields)
    assert harness.repo.count_by_state() == dict.fromkeys(
        ("queued", "running", "succeeded", "failed", "canceled"), 0
    )
    assert nothing_stored(harness)


@pytest.mark.parametrize("change", [{"installed": False}, {"enabled": False}])
def test_a_model_not_installed_or_disabled_is_refused(
    harness: Harness, change: dict[str, bool]
) -> None:
    harness.registry.upsert(make_model(**change))
    with pytest.raises(InvalidInput) as caught:
        harness.create(body=body())
    assert fields_of(caught.value) == ["model_id"]
    assert nothing_stored(harness)


def test_without_a_default_model_the_model_id_is_required(make_harness: HarnessFactory) -> None:
    h = make_harness(default_model_id=None)
    with pytest.raises(InvalidInput) as caught:
        h.create(body=body())
    assert fields_of(caught.value) == ["model_id"]
    assert h.create(body={**body(), "model_id": MODEL_ID}).job.model_id == MODEL_ID


# --- idempotency ----------------------------------------------------------------------------


def test_same_key_and_body_returns_the_original_job(harness: Harness) -> None:
    first = harness.create(key="k-1", body=body())
    second = harness.create(key="k-1", body=body())
    assert (first.replayed, second.replayed) == (False, True)
    assert second.job.id == first.job.id
    assert second.job.created_at == first.job.created_at
    assert harness.job_count() == 1
    assert harness.queue.enqueued == [(first.job.id, 0.0)]


def test_the_body_is_compared_after_normalisation(harness: Harness) -> None:
    first = harness.create(key="k", body=body())
    # The same request with the defaults spelled out is the same request.
    spelled = {
        "type": "generate",
        "provider": "local-sdxl-epicrealism",
        "model_id": MODEL_ID,
        "params": {**body()["params"], "count": 1, "format": "png", "guidance": 6},
    }
    again = harness.create(key="k", body=spelled)
    assert again.replayed is True
    assert again.job.id == first.job.id


def test_same_key_with_another_body_is_a_conflict(harness: Harness) -> None:
    first = harness.create(key="k-1", body=body("a cat"))
    with pytest.raises(IdempotencyConflict) as caught:
        harness.create(key="k-1", body=body("a dog"))
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.job_id == first.job.id
    assert harness.job_count() == 1
    assert len(harness.queue.enqueued) == 1


def test_a_replay_returns_the_job_as_it_is_now(harness: Harness) -> None:
    first = harness.create(key="k", body=body())
    harness.queue.run_due()
    again = harness.create(key="k", body=body())
    assert again.replayed is True
    assert again.job.state is JobState.SUCCEEDED
    assert harness.queue.run_due() == 0  # the replay enqueued nothing
    assert again.job.id == first.job.id


def test_a_key_is_released_after_the_window(harness: Harness) -> None:
    first = harness.create(key="k", body=body())
    harness.clock.advance(IDEMPOTENCY_WINDOW_S - 1)
    assert harness.create(key="k", body=body()).job.id == first.job.id
    harness.clock.advance(2)
    later = harness.create(key="k", body=body("something else"))
    assert later.replayed is False
    assert later.job.id != first.job.id
    assert harness.job_count() == 2


def test_requests_without_a_key_always_create_a_job(harness: Harness) -> None:
    ids = {harness.create(body=body()).job.id for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "new\nline", "ключ", "\x7f"])
def test_a_malformed_key_is_invalid_input_naming_the_header(harness: Harness, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        harness.create(key=key, body=body())
    assert fields_of(caught.value) == ["Idempotency-Key"]
    assert nothing_stored(harness)


@pytest.mark.parametrize("key", ["a", "x" * 255, " spaces ok ~!", "550e8400-e29b-41d4-a716"])
def test_well_formed_keys_are_accepted(harness: Harness, key: str) -> None:
    assert harness.create(key=key, body=body()).job.idempotency_key == key


BODIES = [body("a cat"), body("a dog"), body("a cat", steps=4)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([None, "k1", "k2", "k3"]), st.integers(0, len(BODIES) - 1)),
        min_size=1,
        max_size=12,
    )
)
def test_one_job_per_key_and_replays_return_the_first(
    make_harness: HarnessFactory, requests: list[tuple[str | None, int]]
) -> None:
    h = make_harness()
    first: dict[str, tuple[str, int]] = {}  # key -> (job id, body index)
    keyless = 0
    for key, which in requests:
        if key is not None and key in first and first[key][1] != which:
            with pytest.raises(IdempotencyConflict):
                h.create(key=key, body=BODIES[which])
            continue
        result = h.create(key=key, body=BODIES[which])
        if key is None:
            keyless += 1
            assert result.replayed is False
        elif key in first:
            assert result.replayed is True
            assert result.job.id == first[key][0]
        else:
            assert result.replayed is False
            first[key] = (result.job.id, which)
    assert h.job_count() == len(first) + keyless
    assert len(h.queue.enqueued) == len(first) + keyless
    assert len({job_id for job_id, _ in h.queue.enqueued}) == len(h.queue.enqueued)


def test_a_job_is_accepted_when_the_queue_is_down_and_the_sweeper_enqueues_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dreamforge_core.errors import Unavailable
    from dreamforge_core.use_cases.recover_jobs import RecoverJobs

    def down(job_id: str, delay_s: float = 0.0) -> None:
        raise Unavailable("redis is down")

    real_enqueue = harness.queue.enqueue
    monkeypatch.setattr(harness.queue, "enqueue", down)
    result = harness.create()
    assert harness.job(result.job.id).state is JobState.QUEUED  # durable, not lost
    monkeypatch.setattr(harness.queue, "enqueue", real_enqueue)
    harness.clock.advance(60)
    RecoverJobs(
        harness.repo, harness.queue, harness.bus, harness.clock, harness.retry, grace_s=30
    )()
    harness.queue.run_due()
    assert harness.job(result.job.id).state is JobState.SUCCEEDED


# --- default model, checkpoint hash, idempotency scope ----------------------------------------


def test_the_default_model_is_chosen_when_each_job_is_created(make_harness: HarnessFactory) -> None:
    """No restart after an install: the rule runs on the registry as it is at each request."""
    h = make_harness(default_model_id=None, models=[])
    with pytest.raises(InvalidInput) as caught:
        h.create(body=body())
    assert fields_of(caught.value) == ["model_id"]

    h.registry.upsert(
        make_model(id="demo-sdxl-tiny", kind="sdxl-diffusers", checkpoint_hash="d" * 64)
    )
    assert h.create(body=body()).job.model_id == "demo-sdxl-tiny"
    h.registry.upsert(make_model(id="other-xl", kind="sdxl-checkpoint", checkpoint_hash="0" * 64))
    assert h.create(body=body()).job.model_id == "other-xl"  # a real model beats the demo
    epic = make_model(id="epic-v5", name="epiCRealism XL", kind="sdxl-checkpoint")
    h.registry.upsert(epic)
    job = h.create(body=body()).job
    assert (job.model_id, job.checkpoint_hash) == ("epic-v5", epic.checkpoint_hash)
    h.registry.upsert(
        make_model(id="epic-v5", name="epiCRealism XL", kind="sdxl-checkpoint", enabled=False)
    )
    assert h.create(body=body()).job.model_id == "other-xl"  # disabled: no longer chosen


def test_a_configured_default_model_wins(make_harness: HarnessFactory) -> None:
    h = make_harness(default_model_id=MODEL_ID)
    h.registry.upsert(make_model(id="epicrealism-v5", kind="sdxl-checkpoint"))
    assert h.create(body=body()).job.model_id == MODEL_ID


def test_a_job_records_the_checkpoint_hash_of_its_model(harness: Harness) -> None:
    job = harness.create(body=body()).job
    assert job.checkpoint_hash == CHECKPOINT_HASH
    assert job.checkpoint_hash == CHECKPOINT_HASH


def test_an_idempotency_key_is_scoped_to_the_callers_api_key(harness: Harness) -> None:
    alice = Caller.with_key("alice-key", admin=False)
    bob = Caller.with_key("bob-key", admin=False)

    def create(caller: Caller, **params: Any) -> Any:
        return harness.create_job(
            CreateJobCommand(body=body(**params), idempotency_key="k", caller=caller)
        )

    alices = create(alice)
    bobs = create(bob, prompt="another prompt")  # no conflict across keys
    assert not bobs.replayed
    assert bobs.job.id != alices.job.id
    assert alices.job.key_fingerprint == hashlib.sha256(b"alice-key").hexdigest()
    assert "alice-key" not in repr(alices.job)  # the key itself is never kept
    assert create(alice).job.id == alices.job.id
    with pytest.raises(IdempotencyConflict) as conflict:
        create(alice, prompt="another prompt")
    assert conflict.value.job_id == alices.job.id
    assert harness.job_count() == 2
