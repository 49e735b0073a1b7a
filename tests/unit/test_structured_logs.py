"""NFR-020: every process log line is one JSON object with the fields bound where it was
written, whether a standard-library or a structlog logger wrote it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from dreamforge_adapters.http.asgi import log_fields
from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.memory import MemoryBlobStore
from dreamforge_apps.logging_setup import configure_logging
from tests.unit.core.conftest import build_harness


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_stdlib_and_structlog_lines_carry_the_same_fields_and_the_bound_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    with bound_contextvars(correlation_id="abc", job_id="j1"):
        logging.getLogger("dreamforge.test").warning("stored %s", "k/1", extra={"bytes": 3})
        structlog.get_logger("dreamforge.sl").info("item done", index=0)
    logging.getLogger("dreamforge.test").info("outside")
    logging.getLogger("dreamforge.test").debug("below the level")

    stdlib, native, outside = lines(capsys.readouterr().err)

    assert list(stdlib)[:4] == ["ts", "level", "logger", "message"]
    assert stdlib["message"] == "stored k/1"
    assert stdlib["level"] == "warning"
    assert stdlib["logger"] == "dreamforge.test"
    assert stdlib["bytes"] == 3
    assert datetime.fromisoformat(stdlib["ts"]).utcoffset() is not None
    assert len(stdlib["ts"].split(".")[1]) == len("123+00:00")  # milliseconds
    assert native["message"] == "item done"
    assert native["logger"] == "dreamforge.sl"
    assert native["index"] == 0
    for line in (stdlib, native):
        assert line["correlation_id"] == "abc"
        assert line["job_id"] == "j1"
    assert outside["message"] == "outside"
    assert "correlation_id" not in outside


@pytest.mark.usefixtures("restore_logging")
def test_a_traceback_is_one_field_of_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("dreamforge.test").exception("failed")

    (line,) = lines(capsys.readouterr().err)
    assert line["message"] == "failed"
    assert "ValueError: boom" in line["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_the_console_format_is_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "console")
    with bound_contextvars(job_id="j1"):
        logging.getLogger("dreamforge.test").warning("stored %s", "k/1")

    err = capsys.readouterr().err
    assert "stored k/1" in err
    assert "job_id=j1" in err
    assert not err.startswith("{")


@pytest.mark.usefixtures("restore_logging")
def test_worker_lines_during_a_job_carry_its_job_and_step_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Item 0 is stored on the storing thread while item 1 generates; both lines count."""

    class LoggingBlobs(MemoryBlobStore):
        def put(self, key: str, data: bytes, content_type: str) -> None:
            logging.getLogger("dreamforge.test.blobs").info(
                "stored on %s", threading.current_thread().name
            )
            super().put(key, data, content_type)

    configure_logging("info", "json")
    harness = build_harness(blobs=LoggingBlobs(), log_context=StructlogContext())
    job = harness.create(count=2).job
    assert harness.queue.run_due() == 1

    stored = [x for x in lines(capsys.readouterr().err) if x["logger"] == "dreamforge.test.blobs"]
    assert len(stored) == 2
    assert any("dreamforge-finish" in x["message"] for x in stored)
    for line in stored:
        assert line["job_id"] == job.id
        assert line["step_id"] == job.step.id


@pytest.mark.parametrize(
    ("path", "job_id"),
    [
        ("/v1/jobs/01abc", "01abc"),
        ("/v1/jobs/01abc/progress/stream", "01abc"),
        ("/v1/jobs", None),
        ("/v1/models/m1", None),
        ("/health", None),
    ],
)
def test_a_request_binds_its_correlation_id_and_a_job_path_its_job_id(
    path: str, job_id: str | None
) -> None:
    fields = log_fields(path, "abc")
    assert fields.pop("correlation_id") == "abc"
    assert fields.get("job_id") == job_id
