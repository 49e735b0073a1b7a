"""Fixtures every test directory may use: real services started or reached for the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.demo import DEMO_CACHE_ENV

# Six workers share two cores, and torch's default of one OpenMP thread per core makes each
# thread spin while it waits for its partner, which another worker holds off the other core:
# three parallel runs of the runner-process tests took 147 CPU-s with two threads, 54 with one.
# So torch takes one thread in the tests and in every process they start, unless told otherwise.
# Set before any test module imports torch, which reads it once.
os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["tests.support.postgres", "tests.support.seaweed"]

#: The modules that take longest (seconds of a loaded parallel run), longest first. With
#: `--dist loadfile` a module runs whole on one worker, and the workers take modules in
#: collection order: the long ones go first so that none of them starts near the end and
#: holds the run up alone (`--no-loadscope-reorder` in pyproject.toml keeps this order).
LONGEST_FIRST = (
    "tests/e2e/test_bench_gpu.py",
    "tests/e2e/test_sdxl_runner_timeout.py",
    "tests/e2e/test_stack_faults.py",
    "tests/e2e/test_model_download_jobs.py",
    "tests/e2e/test_metrics.py",
    "tests/e2e/test_cli_failures.py",
    "tests/e2e/test_loras_previews.py",
    "tests/e2e/test_operations.py",
    "tests/e2e/test_dlq_cli.py",
    "tests/e2e/test_model_download.py",
    "tests/e2e/test_model_download_safety.py",
    "tests/e2e/test_sdxl_runner.py",
    "tests/e2e/test_crash_recovery.py",
    "tests/e2e/test_auth.py",
    "tests/e2e/test_graceful_stop.py",
    "tests/e2e/test_slow_clients.py",
    "tests/e2e/test_model_routing.py",
    "tests/e2e/test_bench_images.py",
    "tests/e2e/test_runner_isolation.py",
    "tests/e2e/test_stack.py",
    "tests/e2e/test_playground.py",
    "tests/integration/test_sdxl_child.py",
    "tests/e2e/test_reproducibility.py",
    "tests/e2e/test_admin_keys.py",
    "tests/integration/test_sdxl_loras.py",
)
#: Then the rest, directory by directory: server processes first, in-process tests last.
DIRECTORY_ORDER = ("tests/e2e/", "tests/integration/", "tests/golden/", "tests/contract/")


def _module_rank(path: str) -> tuple[int, int]:
    if path in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(path))
    for n, directory in enumerate(DIRECTORY_ORDER, start=1):
        if path.startswith(directory):
            return (n, 0)
    return (len(DIRECTORY_ORDER) + 1, 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Orders the modules as above; the tests of a module keep their order."""
    items.sort(key=lambda item: _module_rank(item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session", autouse=True)
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where the run builds the demo model once (tests/support/demo.py): shared by the
    workers of a parallel run (their temporary directories have one parent), private to a
    run without workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    os.environ[DEMO_CACHE_ENV] = str(root / "demo-cache")
    yield
    os.environ.pop(DEMO_CACHE_ENV, None)
