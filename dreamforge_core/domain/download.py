"""Parameters of a `model_download` job (FR-098): one model reference, fetched by a worker of
the IO queue with the same downloader as `dreamforge model download`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.errors import FieldError, InvalidInput

MAX_REF_CHARS = 1000


@dataclass(frozen=True, slots=True)
class DownloadParams:
    """A validated reference, e.g. `hf:owner/name@rev` or `civitai:123@456`."""

    ref: str

    @property
    def count(self) -> int:
        return 1  # one model per job

    @property
    def source(self) -> str:
        return self.ref.partition(":")[0]

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DownloadParams:
        return cls(ref=str(data["ref"]))


def validate_download_params(raw: Any, sources: Collection[str]) -> DownloadParams:
    """`sources`: the reference prefixes this installation can fetch from."""
    if not isinstance(raw, Mapping):
        raise InvalidInput.for_fields([FieldError("params", "must be a JSON object")])
    errors = [FieldError(f"params.{k}", "is not a known field") for k in raw if k != "ref"]
    ref = raw.get("ref")
    if ref is None:
        errors.append(FieldError("params.ref", "is required"))
    elif not isinstance(ref, str) or not ref.strip():
        errors.append(FieldError("params.ref", "must be a non-empty string"))
    elif len(ref) > MAX_REF_CHARS:
        errors.append(FieldError("params.ref", f"must be at most {MAX_REF_CHARS} characters"))
    else:
        try:
            parsed = parse_model_ref(ref)
        except InvalidInput as e:
            errors.extend(
                FieldError("params.ref", err["message"]) for err in e.details.get("errors", [])
            )
        else:
            if parsed.source not in sources:
                known = ", ".join(sorted(sources)) or "none"
                errors.append(
                    FieldError("params.ref", f"no source for {parsed.source!r} (known: {known})")
                )
            ref = str(parsed)
    if errors:
        raise InvalidInput.for_fields(errors)
    return DownloadParams(ref=str(ref))
