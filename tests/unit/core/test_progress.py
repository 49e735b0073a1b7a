"""Progress: stage weights per job type (FR-032) and the batch mean (FR-033)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamforge_core.domain.progress import (
    STAGE_WEIGHTS,
    item_progress,
    job_progress,
    stage_summary,
    stage_weights,
)

WEIGHTS = STAGE_WEIGHTS["generate"]


@dataclass
class FakeItem:
    stages: dict[str, float] = field(default_factory=dict)


def test_generate_stage_weights_are_documented_and_sum_to_one() -> None:
    assert list(WEIGHTS) == ["prepare", "denoise", "encode", "store"]
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert max(WEIGHTS, key=WEIGHTS.__getitem__) == "denoise"
    assert stage_weights("generate") is WEIGHTS


def test_item_progress_is_the_weighted_sum_of_its_stages() -> None:
    assert item_progress("generate", {}) == 0.0
    assert item_progress("generate", {"prepare": 1.0}) == pytest.approx(WEIGHTS["prepare"])
    half = item_progress("generate", {"prepare": 1.0, "denoise": 0.5})
    assert half == pytest.approx(WEIGHTS["prepare"] + 0.5 * WEIGHTS["denoise"])
    assert item_progress("generate", dict.fromkeys(WEIGHTS, 1.0)) == pytest.approx(1.0)
    assert item_progress("generate", {"unknown": 1.0}) == 0.0


def test_job_progress_weighs_every_item_the_same() -> None:
    done = FakeItem(dict.fromkeys(WEIGHTS, 1.0))
    assert job_progress("generate", []) == 0.0
    assert job_progress("generate", [done, FakeItem()]) == pytest.approx(0.5)
    assert job_progress("generate", [FakeItem(), done]) == pytest.approx(0.5)
    assert job_progress("generate", [done, FakeItem(), FakeItem(), FakeItem()]) == pytest.approx(
        0.25
    )


def test_an_unknown_job_type_is_an_error() -> None:
    with pytest.raises(KeyError):
        item_progress("sharpen", {})


stage_dicts = st.dictionaries(st.sampled_from(list(WEIGHTS)), st.floats(0, 1))
item_lists = st.lists(stage_dicts.map(FakeItem), min_size=1, max_size=100)


@settings(max_examples=200, deadline=None)
@given(item_lists)
def test_job_progress_is_the_mean_of_item_progress(items: list[FakeItem]) -> None:
    expected = sum(item_progress("generate", i.stages) for i in items) / len(items)
    progress = job_progress("generate", items)
    assert progress == pytest.approx(expected)
    assert 0.0 <= progress <= 1.0


@settings(max_examples=200, deadline=None)
@given(item_lists)
def test_stage_summary_adds_up_to_job_progress(items: list[FakeItem]) -> None:
    summary = stage_summary("generate", items)
    assert [s["name"] for s in summary] == list(WEIGHTS)
    assert [s["weight"] for s in summary] == list(WEIGHTS.values())
    total = sum(float(s["weight"]) * float(s["progress"]) for s in summary)
    assert total == pytest.approx(job_progress("generate", items), abs=1e-9)
    assert all(0.0 <= float(s["progress"]) <= 1.0 for s in summary)


def test_stage_summary_of_no_items_is_all_zero() -> None:
    assert [s["progress"] for s in stage_summary("generate", [])] == [0.0] * len(WEIGHTS)
