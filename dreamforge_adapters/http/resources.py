"""JSON representations of core objects, as API.md shows them."""

from __future__ import annotations

from typing import Any

from dreamforge_core.domain.job import Job


def job_resource(job: Job) -> dict[str, Any]:
    base = f"/v1/jobs/{job.id}"
    return {
        **job.to_dict(),
        "links": {
            "self": base,
            "artifacts": f"{base}/artifacts",
            "logs": f"{base}/logs",
            "progress": f"{base}/progress",
            "stream": f"{base}/progress/stream",
        },
    }
