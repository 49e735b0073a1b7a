"""How many torch threads a runner should use when it has no GPU."""

from __future__ import annotations

import os


def default_cpu_threads() -> int:
    """All cores but one: the service process needs a core for requests, encoding and
    storage, and torch's intra-op threads slow down sharply when they compete for every core
    (on 2 cores: 0.35 s/image with 1 thread against 0.40 s with 2, demo model, 128 px)."""
    return max(1, (os.cpu_count() or 2) - 1)
