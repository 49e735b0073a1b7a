"""The orchestrators wait for a worker's graceful stop before they kill it: their grace period
covers the default drain window, the runner's kill after it and the hand back, with a margin."""

from __future__ import annotations

import re
from pathlib import Path

from dreamforge_apps.drain import join_timeout_s
from dreamforge_apps.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MARGIN_S = 10.0  # closing the process after the hand back: runner, broker, database


def _needed_s() -> float:
    return join_timeout_s(Settings.model_fields["drain_timeout_s"].default) + MARGIN_S


def test_compose_gives_the_worker_time_to_drain() -> None:
    text = (ROOT / "compose.yaml").read_text()
    worker = re.search(r"\n  worker:\n(.*?)(?=\n  [a-z][\w-]*:\n)", text, re.S)
    assert worker is not None
    grace = re.search(r"\n    stop_grace_period: (\d+)s\n", worker.group(1))
    assert grace is not None
    assert int(grace.group(1)) >= _needed_s()


def test_k3s_gives_the_worker_time_to_drain() -> None:
    text = (ROOT / "deploy" / "k3s" / "50-worker.yaml").read_text()
    grace = re.search(r"terminationGracePeriodSeconds: (\d+)", text)
    assert grace is not None
    assert int(grace.group(1)) >= _needed_s()
