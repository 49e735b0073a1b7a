"""The LogContext contract, run against the fake and the structlog adapter: fields are bound
for the block only, nested blocks add to them, and leaving a block restores what was there."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from structlog.contextvars import clear_contextvars, get_contextvars

from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.memory import RecordingLogContext
from dreamforge_core.ports.log_context import LogContext

Bound = Callable[[], dict[str, str]]


@pytest.fixture(params=["memory", "structlog"])
def context(request: pytest.FixtureRequest) -> tuple[LogContext, Bound]:
    if request.param == "memory":
        fake = RecordingLogContext()
        return fake, lambda: dict(fake.current)
    clear_contextvars()
    return StructlogContext(), lambda: dict(get_contextvars())


def test_fields_are_bound_for_the_block_only(context: tuple[LogContext, Bound]) -> None:
    log_context, bound = context
    with log_context.bound(step_id="s1"):
        assert bound() == {"step_id": "s1"}
    assert bound() == {}


def test_nested_blocks_add_fields_and_leaving_one_restores_the_outer(
    context: tuple[LogContext, Bound],
) -> None:
    log_context, bound = context
    with log_context.bound(job_id="j1", step_id="s1"):
        with log_context.bound(step_id="s2", item="0"):
            assert bound() == {"job_id": "j1", "step_id": "s2", "item": "0"}
        assert bound() == {"job_id": "j1", "step_id": "s1"}


def test_an_error_leaves_the_block_clean(context: tuple[LogContext, Bound]) -> None:
    log_context, bound = context
    with pytest.raises(RuntimeError), log_context.bound(step_id="s1"):
        raise RuntimeError("boom")
    assert bound() == {}
