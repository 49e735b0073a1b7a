"""Model routing's choice of a turn: warm jobs first within one priority, but never ahead of a
job that came the bound earlier, never leaving a job that has waited its bound to a busy warm
worker, never across priorities (ADR 0034)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dreamforge_core.domain.routing import QueuedTurn, pick_turn

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(seconds=10)


def turn(job_id: str, model_id: str, age_s: float, priority: int = 0) -> QueuedTurn:
    return QueuedTurn(job_id, model_id, priority, NOW - timedelta(seconds=age_s))


FRONT = [turn("j1", "m2", 3), turn("j2", "m1", 2), turn("j3", "m3", 1)]


def test_a_job_of_a_model_warm_here_goes_before_older_ones() -> None:
    pick = pick_turn(FRONT, {"m1"}, {"m2"}, NOW, max_wait_s=5)
    assert (pick.job_id, pick.warm) == ("j2", True)


def test_a_job_whose_model_no_other_worker_holds_goes_next() -> None:
    assert pick_turn(FRONT, set(), {"m2"}, NOW, max_wait_s=5).job_id == "j2"
    assert pick_turn(FRONT, set(), set(), NOW, max_wait_s=5).job_id == "j1"


def test_jobs_warm_elsewhere_wait_and_the_pass_says_until_when() -> None:
    pick = pick_turn(FRONT, {"m9"}, {"m1", "m2", "m3"}, NOW, max_wait_s=5)
    assert pick.job_id is None
    assert pick.wait_s == 2.0  # j1 reaches its 5 s bound first


def test_a_warm_job_never_passes_a_job_that_came_the_bound_earlier() -> None:
    front = [turn("old", "m2", 6), turn("warm", "m1", 2)]
    assert pick_turn(front, {"m1"}, {"m2"}, NOW, max_wait_s=5).job_id == "warm"  # 4 s apart
    pick = pick_turn(front, {"m1"}, {"m2"}, NOW, max_wait_s=3)
    assert (pick.job_id, pick.warm) == ("old", False)


def test_a_free_worker_takes_a_job_that_has_waited_its_bound_for_its_warm_worker() -> None:
    pick = pick_turn(FRONT, {"m9"}, {"m1", "m2", "m3"}, NOW, max_wait_s=3)
    assert (pick.job_id, pick.warm) == ("j1", False)


def test_routing_never_reorders_across_priorities() -> None:
    front = [turn("high", "m2", 0, priority=1), turn("warm", "m1", 5)]
    assert pick_turn(front, {"m1"}, {"m2"}, NOW, max_wait_s=5).job_id is None
    assert pick_turn(front, {"m1"}, set(), NOW, max_wait_s=5).job_id == "high"


def test_a_retry_waits_from_its_retry_time_and_zero_bound_means_plain_order() -> None:
    retried = QueuedTurn("r", "m2", 0, NOW - timedelta(seconds=60), NOW - timedelta(seconds=1))
    assert retried.waited_s(NOW) == 1.0
    assert pick_turn(FRONT, {"m1"}, {"m2"}, NOW, max_wait_s=0).job_id == "j1"
    assert pick_turn([], {"m1"}, set(), NOW, max_wait_s=5).job_id is None
