"""In-process queue and event bus: the embedded deployment's stand-ins for Redis and NOTIFY."""

from dreamforge_adapters.inprocess.event_bus import InProcessEventBus
from dreamforge_adapters.inprocess.job_queue import InProcessJobQueue

__all__ = ["InProcessEventBus", "InProcessJobQueue"]
