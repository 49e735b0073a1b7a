"""Process logging: NDJSON lines (the default) or human-readable console lines.

Standard-library loggers (ours, uvicorn's, Dramatiq's) and structlog loggers go through one
stderr handler whose formatter runs structlog's processors, so both write the same line with
the fields bound in `structlog.contextvars` (`correlation_id`, `job_id`, `step_id`).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# uvicorn adds a colourised copy of its message to each record; the line has the plain one.
_DROPPED_EXTRAS = ("color_message",)


def _leading_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """ts, level, logger and message first (as before structlog), from the stdlib record that
    every line becomes, so both kinds of logger report the same time and name."""
    record: logging.LogRecord = event_dict.pop("_record")
    event_dict.pop("_from_structlog", None)
    for key in _DROPPED_EXTRAS:
        event_dict.pop(key, None)
    return {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": event_dict.pop("event", ""),
        **event_dict,
    }


def _renderers(fmt: str) -> list[Processor]:
    if fmt == "json":
        return [
            structlog.processors.format_exc_info,  # a traceback becomes the `exception` string
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ]
    return [
        structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), event_key="message", timestamp_key="ts"
        )
    ]


def configure_logging(level: str, fmt: str) -> None:
    """Sends every logger to stderr as `fmt` (`json` or `console`) from `level` up."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # before any work: a dropped line costs nothing
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.ExtraAdder(),  # `extra={...}` of a stdlib call becomes fields
        ],
        processors=[_leading_fields, *_renderers(fmt)],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
