"""The runner's child process as the parent holds it: its options and its end of the pipe."""

from __future__ import annotations

import multiprocessing
from dataclasses import asdict, dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from dreamforge_adapters.sdxl.protocol import ChildMessage


@dataclass(frozen=True, slots=True)
class ChildOptions:
    threads: int | None = None  # torch intra-op threads in the child (None: torch's default)
    pipeline_cache_size: int = 1  # models kept warm: one on the device, idle ones in CPU memory
    memory_budget_mb: int | None = None  # what the warm models' weights may take together
    compile_cache_dir: str | None = None
    compile_mode: str | None = None  # torch.compile's mode for presets that compile (None: theirs)
    test_hooks: bool = False  # honour the prompt markers of protocol.py (tests only)
    start_timeout_s: float = 300.0
    env: dict[str, str] = field(default_factory=dict)

    def to_child(self) -> dict[str, Any]:
        """What the child reads: all but what only the parent uses."""
        sent = asdict(self)
        del sent["test_hooks"], sent["start_timeout_s"]
        return sent


class ChildProcess:
    def __init__(self, options: ChildOptions) -> None:
        from dreamforge_adapters.sdxl.child import child_main  # torch-free at import time

        ctx = multiprocessing.get_context("spawn")  # forking a CUDA parent breaks CUDA
        self.conn, child_conn = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(
            target=child_main,
            args=(child_conn, options.to_child()),
            name="dreamforge-runner",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self.ready: ChildMessage | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid
