"""The runner's child process as the parent holds it: its options and its end of the pipe."""

from __future__ import annotations

import multiprocessing
from dataclasses import asdict, dataclass, field
from multiprocessing.context import ForkServerContext
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


PRELOAD = "dreamforge_adapters.sdxl.child_preload"


def runner_context() -> ForkServerContext:
    """Where runner processes come from: a fork server started once per parent process, which
    imports torch and diffusers before its first fork (`child_preload.py`). The parent itself
    is never forked: forking a process that initialised CUDA breaks CUDA."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    return context


class ChildProcess:
    def __init__(self, options: ChildOptions) -> None:
        from dreamforge_adapters.sdxl.child import child_main  # torch-free at import time

        ctx = runner_context()
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
