"""Facts the docs state that the code decides: checked so the page cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from dreamforge_core.domain.progress import STAGE_WEIGHTS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_jobs_md_lists_the_stage_weights_of_every_job_type() -> None:
    rows = re.findall(
        r"^\| `(\w+)` \| `(\w+)` \| ([0-9.]+) \|", (DOCS / "jobs.md").read_text(), re.M
    )
    documented: dict[str, dict[str, float]] = {}
    for job_type, stage, weight in rows:
        documented.setdefault(job_type, {})[stage] = float(weight)
    assert documented == STAGE_WEIGHTS
