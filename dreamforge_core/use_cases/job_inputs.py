"""The images a `generate` request brings: read, checked, prepared and stored with its job.

Rules:
- `init_image` and `mask_image` are a base64 `data:` URL or `artifact:<job_id>/<item_index>`;
  an artifact must belong to a job of the caller's own API key (another key's job reads as
  missing, so nothing tells one key about another's jobs), and the item must have an image;
- each input is a PNG, JPEG or WebP by its first bytes, at most MAX_INPUT_BYTES and
  MAX_INPUT_PIXELS (from its header, before decoding), and decodes completely;
- the mask has the image's aspect ratio; both are resized to the job's width x height;
- every problem is named by its field (`params.init_image`, `params.mask_image`) together,
  and nothing is stored for a refused request;
- the prepared inputs are stored under the job's `inputs/` before the job row: a job row never
  names an input that is not there, and a job that is not created (an idempotent replay, a
  failed write) has its inputs deleted again.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from dreamforge_core.domain.caller import Caller
from dreamforge_core.domain.image_inputs import (
    INIT_IMAGE,
    INPUT_FIELDS,
    MASK_IMAGE,
    ArtifactRef,
    BadInput,
    InputImage,
    check_bytes,
    input_key,
    parse_reference,
    same_aspect,
)
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import FieldError, InvalidInput, NotFound
from dreamforge_core.ports.blob_store import BlobStore
from dreamforge_core.ports.input_images import InputImageReader, PreparedImage
from dreamforge_core.ports.job_repo import JobRepo


@dataclass(frozen=True, slots=True)
class PreparedInputs:
    """The inputs of one request, ready to store once its job exists."""

    images: Mapping[str, PreparedImage]


NO_INPUTS = PreparedInputs({})


class JobInputs:
    def __init__(self, repo: JobRepo, blobs: BlobStore, reader: InputImageReader) -> None:
        self._repo = repo
        self._blobs = blobs
        self._reader = reader

    def prepare(
        self, raw: Mapping[str, Any], params: GenerateParams, caller: Caller
    ) -> tuple[GenerateParams, PreparedInputs]:
        """`params` with its inputs named, and their prepared bytes; InvalidInput otherwise."""
        if not any(name in raw for name in INPUT_FIELDS):
            return params, NO_INPUTS
        errors: list[FieldError] = []
        images: dict[str, PreparedImage] = {}
        named: dict[str, InputImage] = {}
        for name in INPUT_FIELDS:
            if name not in raw:
                continue
            try:
                data, source = self._read(raw[name], caller)
                check_bytes(data)
                image = self._reader.prepare(
                    data, params.width, params.height, mask=name == MASK_IMAGE
                )
            except BadInput as e:
                errors.append(FieldError(f"params.{name}", str(e)))
                continue
            images[name] = image
            sha = hashlib.sha256(image.png).hexdigest()
            named[name] = InputImage(sha, source, image.width, image.height)
        if len(images) == 2 and not same_aspect(
            _size(images[INIT_IMAGE]), _size(images[MASK_IMAGE])
        ):
            init, mask = images[INIT_IMAGE], images[MASK_IMAGE]
            errors.append(
                FieldError(
                    f"params.{MASK_IMAGE}",
                    f"is {mask.width}x{mask.height}, another aspect ratio than init_image "
                    f"({init.width}x{init.height})",
                )
            )
        if errors:
            raise InvalidInput.for_fields(errors)
        prepared = replace(
            params, init_image=named.get(INIT_IMAGE), mask_image=named.get(MASK_IMAGE)
        )
        return prepared, PreparedInputs(images)

    def store(self, job: Job, prepared: PreparedInputs) -> list[str]:
        """Puts each input under the job's `inputs/`; on a failure removes what it put."""
        keys: list[str] = []
        try:
            for name, image in prepared.images.items():
                key = input_key(job.user, job.id, name)
                self._blobs.put(key, image.png, "image/png")
                keys.append(key)
        except BaseException:
            self.discard(keys)
            raise
        return keys

    def discard(self, keys: list[str]) -> None:
        """Removes inputs no job row names; a failed delete is left for the retention rule."""
        for key in keys:
            with contextlib.suppress(Exception):
                self._blobs.delete(key)

    def _read(self, value: Any, caller: Caller) -> tuple[bytes, str]:
        reference = parse_reference(value)
        if not isinstance(reference, ArtifactRef):
            return reference, "data"
        job = self._repo.get(reference.job_id)
        # another key's job is as missing as one that never was
        if job is None or job.key_fingerprint != caller.key_fingerprint:
            raise BadInput(f"names job {reference.job_id}, which does not exist")
        artifact = next(
            (
                a
                for a in reversed(self._repo.artifacts(job.id))  # the last step's image
                if a.item_index == reference.item_index
            ),
            None,
        )
        if artifact is None:
            raise BadInput(f"job {job.id} has no image {reference.item_index}")
        try:
            return self._blobs.get(artifact.key), str(reference)
        except NotFound:
            raise BadInput(f"the image {reference} is no longer stored") from None


def load_inputs(blobs: BlobStore, job: Job) -> dict[str, bytes]:
    """The job's stored inputs by field name, each checked against the hash its parameters
    keep: every attempt of the job uses the very bytes its request brought."""
    params, loaded = job.generation, {}
    for name in INPUT_FIELDS:
        named: InputImage | None = getattr(params, name)
        if named is None:
            continue
        try:
            data = blobs.get(input_key(job.user, job.id, name))
        except NotFound:
            raise InvalidInput(
                f"the stored {name} of job {job.id} is gone", job_id=job.id
            ) from None
        if hashlib.sha256(data).hexdigest() != named.sha256:
            raise InvalidInput(f"the stored {name} of job {job.id} has changed", job_id=job.id)
        loaded[name] = data
    return loaded


def _size(image: PreparedImage) -> tuple[int, int]:
    return image.width, image.height
