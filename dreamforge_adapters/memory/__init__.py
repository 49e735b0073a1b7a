"""In-memory implementations of the storage ports: real, maintained fakes for unit tests."""

from dreamforge_adapters.memory.blob_store import MemoryBlobStore
from dreamforge_adapters.memory.clock import ManualClock
from dreamforge_adapters.memory.dead_letters import MemoryDeadLetterQueue
from dreamforge_adapters.memory.job_repo import MemoryJobRepo
from dreamforge_adapters.memory.log_context import RecordingLogContext
from dreamforge_adapters.memory.model_registry import MemoryModelRegistry
from dreamforge_adapters.memory.seeds import ScriptedSeeds
from dreamforge_adapters.memory.warm_roster import MemoryWarmRoster

__all__ = [
    "ManualClock",
    "MemoryBlobStore",
    "MemoryDeadLetterQueue",
    "MemoryJobRepo",
    "MemoryModelRegistry",
    "MemoryWarmRoster",
    "RecordingLogContext",
    "ScriptedSeeds",
]
