"""What the runner's fork server imports, once per parent process (ADR 0043).

Every runner process forks from that server, so one started after a kill, a time-out or an
out-of-memory failure begins with torch and diffusers imported instead of spending seconds of
CPU importing them again. The server only imports: it never touches CUDA or runs a torch
operation, so what it hands each runner process is safe to fork. Its objects are frozen out of
the garbage collector's reach, so the pages they sit on stay shared with the runners.
"""

from __future__ import annotations

import gc
import os

from dreamforge_adapters.sdxl.child_environment import IMPORT_TIME_ENV

os.environ.update(IMPORT_TIME_ENV)
# The imports make millions of objects and few cycles: without the collector running over them
# again and again they cost a sixth less CPU (4.8 -> 4.0 s on the development machine).
gc.disable()

import diffusers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from dreamforge_adapters.sdxl import child, modes, pipelines, schedulers  # noqa: E402

PRELOADED = (diffusers, torch, transformers, child, modes, pipelines, schedulers)
gc.collect()
gc.freeze()
gc.enable()
