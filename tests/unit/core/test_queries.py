"""The read side: job status, artifacts with TTL, logs with tail/since_ts, models; and the
progress the API shows, as the HTTP presenter computes it from the job."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import msgspec
import pytest

from dreamforge_adapters.http import presenters
from dreamforge_adapters.memory import MemoryBlobStore
from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.job import ItemState
from dreamforge_core.domain.progress import STAGE_WEIGHTS
from dreamforge_core.errors import InvalidInput, NotFound, OutOfMemory
from dreamforge_core.ports.blob_store import SignedUrl
from dreamforge_core.ports.runner import GenerationRequest
from dreamforge_core.use_cases.queries import ArtifactLimits, JobQueries, ModelQueries

from .conftest import MODEL_ID, Harness, HarnessFactory, make_model

LIMITS = ArtifactLimits(default_ttl_s=900, max_ttl_s=3600)
UNKNOWN = "f" * 26


class PresignRecorder(MemoryBlobStore):
    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[int] = []

    def presign(self, key: str, ttl_s: int, base_url: str) -> SignedUrl:
        self.ttls.append(ttl_s)
        return super().presign(key, ttl_s, base_url)


@pytest.fixture
def blobs() -> PresignRecorder:
    return PresignRecorder()


@pytest.fixture
def h(make_harness: HarnessFactory, blobs: PresignRecorder) -> Harness:
    return make_harness(blobs=blobs)


@pytest.fixture
def queries(h: Harness) -> JobQueries:
    return JobQueries(h.repo, h.blobs, LIMITS)


def field_of(caught: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e["field"] for e in caught.value.details["errors"]]


def refused_fields(
    queries: JobQueries, job_id: str, tail: int | None, since: str | None
) -> list[str]:
    """The fields named by the InvalidInput that this logs query must raise."""
    with pytest.raises(InvalidInput) as caught:
        queries.logs(job_id, tail, since)
    return field_of(caught)


def finished_job(h: Harness, count: int = 2) -> str:
    job_id = h.create(count=count).job.id
    h.clock.advance(10)
    h.queue.run_due()
    return job_id


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.job(UNKNOWN),
        lambda q: q.artifacts(UNKNOWN, None, "http://x"),
        lambda q: q.logs(UNKNOWN, None, None),
    ],
)
def test_an_unknown_job_is_not_found(
    queries: JobQueries, call: Callable[[JobQueries], object]
) -> None:
    with pytest.raises(NotFound) as caught:
        call(queries)
    assert caught.value.code == "not_found"
    assert caught.value.details == {"job_id": UNKNOWN}


def test_the_job_is_read_back(h: Harness, queries: JobQueries) -> None:
    job_id = finished_job(h)
    assert presenters.job(queries.job(job_id)) == presenters.job(h.job(job_id))


# --- artifacts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expected"), [(None, 900), (60, 60), (3600, 3600), (99999, 3600), (1, 1)]
)
def test_ttl_defaults_and_is_clamped(
    h: Harness, queries: JobQueries, blobs: PresignRecorder, ttl: int | None, expected: int
) -> None:
    job_id = finished_job(h)
    items = queries.artifacts(job_id, ttl, "http://localhost:8000")
    assert blobs.ttls == [expected, expected]
    assert [artifact.item_index for artifact, _ in items] == [0, 1]
    for artifact, signed in items:
        shown = presenters.artifact(artifact, signed)
        assert shown.url.startswith("memory://dreamforge/default/jobs/")
        assert shown.url_expires_at.endswith("Z")
        assert (shown.seed, shown.sha256, shown.key) == (
            artifact.seed,
            artifact.sha256,
            artifact.key,
        )


@pytest.mark.parametrize("ttl", [0, -5])
def test_a_bad_ttl_is_invalid_input_naming_ttl(h: Harness, queries: JobQueries, ttl: int) -> None:
    job_id = finished_job(h)
    with pytest.raises(InvalidInput) as caught:
        queries.artifacts(job_id, ttl, "http://x")
    assert field_of(caught) == ["ttl"]


def test_artifacts_of_a_failed_batch_are_listed(h: Harness, queries: JobQueries) -> None:
    h.runner.fail_on(1, OutOfMemory("oom"), times=1)
    job_id = finished_job(h, count=3)
    assert [a.item_index for a, _ in queries.artifacts(job_id, None, "http://x")] == [0]


# --- logs -----------------------------------------------------------------------------------


def test_logs_without_filters_return_every_event(h: Harness, queries: JobQueries) -> None:
    job_id = finished_job(h)
    assert queries.logs(job_id, None, None) == h.events(job_id)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_tail_returns_the_last_n_events(h: Harness, queries: JobQueries, n: int) -> None:
    job_id = finished_job(h)
    events = h.events(job_id)
    assert queries.logs(job_id, n, None) == events[len(events) - n :]


def test_a_tail_longer_than_the_log_returns_the_whole_log(h: Harness, queries: JobQueries) -> None:
    job_id = h.create(count=1).job.id
    h.queue.run_due()
    events = h.events(job_id)
    assert queries.logs(job_id, len(events) + 3, None) == events


@pytest.mark.parametrize("tail", [-1, -20])
def test_a_bad_tail_is_invalid_input_naming_tail(
    h: Harness, queries: JobQueries, tail: int
) -> None:
    assert refused_fields(queries, finished_job(h), tail, None) == ["tail"]


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "",
        "12:00",
        "0001-01-01T00:00:00+01:00",  # valid ISO 8601, but before year 1 in UTC
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_a_bad_since_ts_is_invalid_input_naming_since_ts(
    h: Harness, queries: JobQueries, since: str
) -> None:
    assert refused_fields(queries, finished_job(h), None, since) == ["since_ts"]


def test_since_ts_keeps_events_at_or_after_the_time(h: Harness, queries: JobQueries) -> None:
    job_id = finished_job(h)  # job_created at T0, the run 10 s later
    events = h.events(job_id)
    created_at = events[0].ts
    later = [e for e in events if e.ts > created_at]
    assert later
    run_started = later[0].ts
    for text in (
        iso(run_started),
        run_started.isoformat(),
        run_started.replace(tzinfo=None).isoformat(),  # no zone: taken as UTC
    ):
        assert text is not None
        assert queries.logs(job_id, None, text) == later
    assert queries.logs(job_id, None, iso(created_at)) == events


def test_tail_applies_after_since_ts(h: Harness, queries: JobQueries) -> None:
    job_id = finished_job(h)
    events = h.events(job_id)
    later = [e for e in events if e.ts > events[0].ts]
    assert queries.logs(job_id, 2, iso(later[0].ts)) == later[-2:]


def test_events_after_a_sequence_number(h: Harness, queries: JobQueries) -> None:
    job_id = finished_job(h)
    events = h.events(job_id)
    assert queries.events_after(job_id, 3) == events[3:]
    assert queries.events_after(job_id, events[-1].seq) == []


# --- progress -------------------------------------------------------------------------------


def progress_of(queries: JobQueries, job_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = msgspec.to_builtins(presenters.progress(queries.job(job_id)))
    return shown


def test_progress_of_a_queued_job(h: Harness, queries: JobQueries) -> None:
    job_id = h.create(count=2).job.id
    progress = progress_of(queries, job_id)
    assert progress == {
        "job_id": job_id,
        "state": "queued",
        "progress": 0.0,
        "stages": [
            {"name": name, "weight": weight, "progress": 0.0}
            for name, weight in STAGE_WEIGHTS["generate"].items()
        ],
        "items": [
            {"item_index": 0, "state": "pending", "progress": 0.0, "seed": None},
            {"item_index": 1, "state": "pending", "progress": 0.0, "seed": None},
        ],
        "updated_at": iso(h.job(job_id).updated_at),
        "step": "generate",
    }


def test_progress_of_a_finished_job(h: Harness, queries: JobQueries) -> None:
    job_id = finished_job(h)
    progress = progress_of(queries, job_id)
    assert progress["state"] == "succeeded"
    assert progress["progress"] == pytest.approx(1.0)
    assert [s["progress"] for s in progress["stages"]] == [1.0] * 4
    assert [(i["state"], i["progress"]) for i in progress["items"]] == [("succeeded", 1.0)] * 2
    assert [i["seed"] for i in progress["items"]] == h.seeds.drawn


def test_progress_midway_is_the_mean_of_items(h: Harness, queries: JobQueries) -> None:
    snapshots: list[dict[str, Any]] = []

    def look(request: GenerationRequest) -> None:
        if request.item_index == 1:
            # Item 0 is stored while item 1 generates: wait for its record, not a race.
            deadline = time.monotonic() + 5.0
            while h.job(job_id[0]).items[0].state is not ItemState.SUCCEEDED:
                assert time.monotonic() < deadline, "item 0 was never recorded"
                time.sleep(0.001)
        snapshots.append(progress_of(queries, job_id[0]))

    job_id = [h.create(count=2).job.id]
    h.runner.before_generate = look
    h.queue.run_due()
    first, second = snapshots
    assert first["state"] == "running"
    assert [i["state"] for i in first["items"]] == ["running", "pending"]
    assert first["progress"] == 0.0
    assert [i["state"] for i in second["items"]] == ["succeeded", "running"]
    assert second["progress"] == pytest.approx(0.5)
    total = sum(s["weight"] * s["progress"] for s in second["stages"])
    assert total == pytest.approx(second["progress"])


# --- models ---------------------------------------------------------------------------------


def test_model_queries(h: Harness) -> None:
    h.registry.upsert(replace(make_model(), id="hidden", enabled=False))
    models = ModelQueries(h.registry)
    assert [m.id for m in models.list(include_disabled=False)] == [MODEL_ID]
    assert [m.id for m in models.list(include_disabled=True)] == ["epicrealism-xl", "hidden"]
    assert models.get(MODEL_ID).short_hash == make_model().checkpoint_hash[:10]  # type: ignore[index]
    with pytest.raises(NotFound) as caught:
        models.get("nope")
    assert caught.value.details == {"model_id": "nope"}
    summary = presenters.model_summary(models.get(MODEL_ID))
    assert summary.parameters_schema["required"] == ["prompt"]
