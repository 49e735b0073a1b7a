"""One fixture per port, parametrised over every implementation of it.

A contract test asks for `job_repo` or `model_registry` and runs once per backend, so the
embedded deployment behaves exactly like the fakes the unit tests trust.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamforge_adapters.memory import MemoryJobRepo, MemoryModelRegistry
from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo, SqliteModelRegistry
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A fresh database file; tests reopen it to check what survives."""
    return tmp_path / "dreamforge.sqlite3"


@pytest.fixture
def sqlite_database(sqlite_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(sqlite_path)
    yield database
    database.close()


@pytest.fixture(params=["memory", "sqlite"])
def job_repo(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[JobRepo]:
    if request.param == "memory":
        yield MemoryJobRepo()
        return
    database = SqliteDatabase(sqlite_path)
    yield SqliteJobRepo(database)
    database.close()


@pytest.fixture(params=["memory", "sqlite"])
def model_registry(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "memory":
        yield MemoryModelRegistry()
        return
    database = SqliteDatabase(sqlite_path)
    yield SqliteModelRegistry(database)
    database.close()
