"""Fixtures every test directory may use: real services started or reached for the tests."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.postgres", "tests.support.seaweed"]

# The longest test files (the real diffusers pipeline, runner kills, fault injection), first:
# pytest-xdist hands out files in collection order, so a long one collected last would keep
# one worker busy after the others ran out of work (ADR 0024).
LONGEST_FIRST = (
    "tests/integration/test_sdxl_child.py",
    "tests/e2e/test_graceful_stop.py",
    "tests/e2e/test_sdxl_runner.py",
    "tests/contract/test_runner_contract.py",
    "tests/e2e/test_stack_faults.py",
    "tests/integration/test_demo_model.py",
)


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the order inside a file and among the rest is kept
