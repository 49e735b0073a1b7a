"""Webhook bodies as the API shapes them: `{"type", "timestamp", "data"}` with the Job of
GET /v1/jobs/{id} as `data`, and for `item_completed` its artifact as in the artifact list."""

from __future__ import annotations

from typing import Any

import msgspec

from dreamforge_adapters.http import presenters
from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.webhooks import WebhookDraft
from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.webhooks import WebhookBodies


class ApiWebhookBodies(WebhookBodies):
    """`public_root` is where the embedded deployment's artifact URLs point (S3 URLs in the
    stack ignore it); an artifact's URL is signed for `url_ttl_s` from when the body is
    written."""

    def __init__(self, blobs: BlobStore, public_root: str, url_ttl_s: int) -> None:
        self._blobs = blobs
        self._root = public_root.rstrip("/")
        self._ttl_s = url_ttl_s

    def body(self, job: Job, draft: WebhookDraft) -> str:
        data: dict[str, Any] = msgspec.to_builtins(presenters.job(job))
        if draft.artifact is not None:
            signed = self._blobs.presign(draft.artifact.key, self._ttl_s, self._root)
            data["artifact"] = msgspec.to_builtins(presenters.artifact(draft.artifact, signed))
        message = {"type": draft.type, "timestamp": iso(draft.ts), "data": data}
        return msgspec.json.encode(message).decode()
