"""Log correlation on structlog's context variables (the process log format is set up by the
composition root)."""

from dreamforge_adapters.logs.context import StructlogContext

__all__ = ["StructlogContext"]
