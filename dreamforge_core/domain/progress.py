"""Progress: stage weights per job type (FR-032) and the batch rule (FR-033).

An item's progress is the weighted sum of its stages; a step's progress is the mean of its
items' progress, so every item counts the same whatever its position in the batch. A job of
one step progresses as that step; a job with an `upscale` step weighs its steps by
STEP_WEIGHTS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

# Default stage weights of a `generate` item. Denoising dominates the wall time of an
# image; the other stages are short but visible, so a client sees movement at each.
STAGE_WEIGHTS: dict[str, dict[str, float]] = {
    "generate": {"prepare": 0.05, "denoise": 0.85, "encode": 0.05, "store": 0.05},
    # A download is its bytes: resolving the reference and registering the model are quick.
    "model_download": {"resolve": 0.05, "fetch": 0.9, "register": 0.05},
    # The hires pass: enlarging is quick; its denoising runs on factor^2 the pixels.
    "upscale": {"prepare": 0.05, "denoise": 0.85, "encode": 0.05, "store": 0.05},
}

# A job with an upscale step: its pass runs fewer steps (strength x steps) on 2.25 to 4 times
# the pixels, so it costs about what generating did; it is weighed a little more because
# its larger image is also slower to encode and store.
STEP_WEIGHTS: dict[str, float] = {"generate": 0.4, "upscale": 0.6}


class HasStages(Protocol):
    @property
    def stages(self) -> dict[str, float]: ...


def stage_weights(job_type: str) -> dict[str, float]:
    return STAGE_WEIGHTS[job_type]


def item_progress(job_type: str, stages: dict[str, float]) -> float:
    weights = STAGE_WEIGHTS[job_type]
    return min(1.0, sum(w * stages.get(name, 0.0) for name, w in weights.items()))


def job_progress(job_type: str, items: Sequence[HasStages]) -> float:
    if not items:
        return 0.0
    return sum(item_progress(job_type, i.stages) for i in items) / len(items)


def weighted_progress(steps: Sequence[tuple[str, float]]) -> float:
    """A job's progress from (step name, step progress) pairs; one step counts alone."""
    if len(steps) == 1:
        return steps[0][1]
    return sum(STEP_WEIGHTS[name] * progress for name, progress in steps)


def stage_summary(job_type: str, items: Sequence[HasStages]) -> list[dict[str, float | str]]:
    """Each stage's progress as the mean over items, so Σ weight·progress = job progress."""
    n = len(items) or 1
    return [
        {
            "name": name,
            "weight": weight,
            "progress": sum(i.stages.get(name, 0.0) for i in items) / n,
        }
        for name, weight in STAGE_WEIGHTS[job_type].items()
    ]
