"""Domain objects as the API shows them: the one place that turns a job, an artifact or a
model descriptor into the structs of `shapes`."""

from __future__ import annotations

from datetime import datetime

import msgspec

from dreamforge_adapters.http import shapes
from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.job import PRIORITY_NAMES, ErrorInfo, Job, Step
from dreamforge_core.domain.loras import base_family
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.progress import item_progress, stage_summary
from dreamforge_core.ports.blob_store import SignedUrl


def _time(ts: datetime) -> str:
    return iso(ts) or ""  # never empty: iso() is None only for None


def error_info(error: ErrorInfo | None) -> shapes.ErrorInfo | None:
    return shapes.ErrorInfo(code=error.code, message=error.message) if error else None


def job_step(step: Step) -> shapes.JobStep:
    return shapes.JobStep(
        id=step.id,
        name=step.name,
        state=step.state.value,
        attempts=step.attempts,
        last_error=error_info(step.last_error),
        started_at=iso(step.started_at),
        finished_at=iso(step.finished_at),
    )


def job_links(job_id: str) -> shapes.JobLinks:
    base = f"/v1/jobs/{job_id}"
    return shapes.JobLinks(
        self=base,
        artifacts=f"{base}/artifacts",
        logs=f"{base}/logs",
        progress=f"{base}/progress",
        stream=f"{base}/progress/stream",
    )


def job(job: Job, queue_position: int | None = None) -> shapes.Job:
    return shapes.Job(
        id=job.id,
        type=job.type,  # type: ignore[arg-type]
        provider=job.provider,
        model_id=job.model_id,
        checkpoint_hash=job.checkpoint_hash,
        state=job.state.value,
        params=job.params.to_dict(),
        count=job.count,
        progress=round(job.progress, 6),
        attempts=job.attempts,
        error=error_info(job.error),
        priority=PRIORITY_NAMES.get(job.priority, "normal"),  # type: ignore[arg-type]
        queue_position=queue_position,
        created_at=_time(job.created_at),
        updated_at=_time(job.updated_at),
        started_at=iso(job.started_at),
        finished_at=iso(job.finished_at),
        steps=[job_step(s) for s in job.steps],
        links=job_links(job.id),
        schema_version=job.schema_version,
    )


def artifact(artifact: Artifact, signed: SignedUrl) -> shapes.Artifact:
    return shapes.Artifact(
        id=artifact.id,
        item_index=artifact.item_index,
        step=artifact.step,
        key=artifact.key,
        content_type=artifact.content_type,
        format=artifact.format,
        width=artifact.width,
        height=artifact.height,
        seed=artifact.seed,
        size_bytes=artifact.size_bytes,
        sha256=artifact.sha256,
        checkpoint_hash=artifact.checkpoint_hash,
        created_at=_time(artifact.created_at),
        url=signed.url,
        url_expires_at=_time(signed.expires_at),
    )


def progress(job: Job) -> shapes.Progress:
    """The job's progress, with the stages and items of its current step (`upscale` once a
    job with that step has generated every image)."""
    step = job.step
    kind = job.stage_kind(step)
    return shapes.Progress(
        job_id=job.id,
        state=job.state.value,
        progress=round(job.progress, 6),
        stages=[
            shapes.StageProgress(
                name=str(s["name"]), weight=float(s["weight"]), progress=float(s["progress"])
            )
            for s in stage_summary(kind, step.items)
        ],
        items=[
            shapes.ItemProgress(
                item_index=i.index,
                state=i.state.value,
                progress=round(item_progress(kind, i.stages), 6),
                seed=i.seed,
            )
            for i in step.items
        ],
        updated_at=_time(job.updated_at),
        step=step.name,
    )


def model_summary(model: ModelDescriptor) -> shapes.ModelSummary:
    return shapes.ModelSummary(
        id=model.id,
        name=model.name,
        kind=model.kind,
        version=model.version,
        installed=model.installed,
        enabled=model.enabled,
        parameters_schema=model.parameters_schema,
        base_model=base_family(model),
    )


def model_descriptor(model: ModelDescriptor) -> shapes.ModelDescriptor:
    return shapes.ModelDescriptor(
        **msgspec.structs.asdict(model_summary(model)),
        checkpoint_hash=model.checkpoint_hash,
        source_uri=model.source_uri,
        local_path=model.local_path,
        capabilities=list(model.capabilities),
        provenance=dict(model.provenance),
        created_at=_time(model.created_at),
        updated_at=_time(model.updated_at),
        schema_version=model.schema_version,
    )
