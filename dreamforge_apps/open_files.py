"""Room in the open-files limit for the HTTP server's connections (one descriptor each)."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

RESERVED = 256  # database pools, Redis, the runner's pipes, logs, model files


def connections_that_fit(wanted: int) -> int:
    """Raises the soft limit on open files to what `wanted` connections need, as far as the
    hard limit allows (a service manager's soft default is often 1024); returns how many
    connections fit."""
    if sys.platform == "win32":
        return wanted
    import resource

    needed = wanted + RESERVED
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-files limit to %d: %s", target, e)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    fitted = max(1, soft - RESERVED)
    log.warning(
        "the open-files limit (%d) leaves room for %d connections, not "
        "DREAMFORGE_HTTP_MAX_CONNECTIONS=%d: raise it (ulimit -n) for more",
        soft,
        fitted,
        wanted,
    )
    return fitted
