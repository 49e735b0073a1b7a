"""CivitAI checkpoints: `civitai:<model id|slug|version id>[@<version id>]` (FR-092).

A model is found by numeric id, else by slug (its name lower-cased, runs of other characters
turned into '-', e.g. "epiCRealism XL" → `epicrealism-xl`), searched with the models API. A
numeric id that is no model is tried as a version id (the reference form FR-092 also allows).
Without `@<version>` the newest version is taken.

Only SDXL checkpoints and LoRAs (type `Checkpoint` or `LORA`, `baseModel` starting with "SDXL")
in safetensors form are accepted: the version's `Model` file in `SafeTensor` format, the
primary one when several qualify. A LoRA installs as kind `sdxl-lora`. Its
published SHA256 is checked; `sizeKB` is a rounded figure, so it is not used as an exact size
(the hash is the check), only as a rough one: for the disk check, and as a bound the download
may not outgrow by much.

Name: the model's slug (`model-<id>` when the name has no ASCII letters or digits). Version:
the version id. Registry id: `<slug>-v<version id>`, so versions of one model install side by
side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from dreamforge_adapters.model_sources.base import FetchingSource
from dreamforge_adapters.model_sources.file_rules import (
    KIND_CHECKPOINT,
    KIND_LORA,
    PICKLE_REFUSAL,
    check_names,
    invalid_ref,
    is_weights,
)
from dreamforge_core.domain.model_ref import ModelRef
from dreamforge_core.errors import NotFound, Unavailable
from dreamforge_core.ports.model_source import DownloadProgress, ResolvedModel, SourceFile

DEFAULT_BASE_URL = "https://civitai.com"
#: `baseModel` prefixes of the checkpoints the SDXL runner loads.
SDXL_BASE_MODELS = ("SDXL",)
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: CivitAI model types installed, and the kind each becomes.
_KINDS = {"Checkpoint": KIND_CHECKPOINT, "LORA": KIND_LORA}


def civitai_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class CivitaiSource(FetchingSource):
    """Resolves `civitai:` references against the CivitAI REST API; see the module docstring."""

    scheme = "civitai"
    supports_configs_only: ClassVar[bool] = False  # checkpoints only: no config folders
    token_env = "CIVITAI_TOKEN"  # noqa: S105 - a setting's name, not a secret

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, token: str | None = None, **options: Any
    ) -> None:
        """`options`: FetchingSource's (client, concurrency, attempts, timeout_s, progress,
        sleep)."""
        super().__init__(base_url, token, **options)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, progress: DownloadProgress | None = None
    ) -> CivitaiSource:
        """DREAMFORGE_CIVITAI_BASE_URL (for mirrors and tests) and CIVITAI_TOKEN."""
        return cls(
            base_url=environ.get("DREAMFORGE_CIVITAI_BASE_URL") or DEFAULT_BASE_URL,
            token=environ.get("CIVITAI_TOKEN") or None,
            progress=progress,
        )

    def model_id(self, model: ResolvedModel) -> str:
        return f"{model.name}-v{model.version}"

    def resolve(self, ref: ModelRef) -> ResolvedModel:
        if ref.source != self.scheme:
            raise invalid_ref(ref, "not a CivitAI reference")
        model, version_id = self._model(ref)
        model_id = model.get("id")
        kind = _KINDS.get(str(model.get("type")))
        if kind is None:
            raise invalid_ref(
                ref, f"model {model_id} is a {model.get('type')}, not a checkpoint or LoRA"
            )
        if version_id is None:
            versions = model.get("modelVersions") or []
            if not versions or not isinstance(versions[0], dict) or "id" not in versions[0]:
                raise NotFound(f"civitai: model {model_id} has no versions")
            version_id = str(versions[0]["id"])
        version = self._json_object(f"/api/v1/model-versions/{version_id}", f"version {version_id}")
        if str(version.get("modelId")) != str(model_id):
            raise NotFound(f"civitai: version {version_id} is not a version of model {model_id}")
        base_model = str(version.get("baseModel") or "")
        if not base_model.startswith(SDXL_BASE_MODELS):
            raise invalid_ref(ref, f"base model {base_model or 'unknown'!r} is not SDXL")
        file = _model_file(ref, version)
        name = str(file.get("name") or "")
        check_names(ref, [name])
        if not is_weights(name):
            raise invalid_ref(ref, f"{name!r} is marked SafeTensor but is not a .safetensors file")
        # Not the version's downloadUrl: that serves the primary file, maybe a pickle.
        url = str(file.get("downloadUrl") or "")
        if not url.startswith(("https://", "http://")):
            raise Unavailable(f"civitai: version {version_id} has no download URL for {name}")
        slug = civitai_slug(str(model.get("name") or "")) or f"model-{model_id}"
        return ResolvedModel(
            ref=ref,
            name=slug,
            version=str(version_id),
            kind=kind,
            files=(
                SourceFile(
                    name=name,
                    url=url,
                    size=None,
                    sha256=_sha256(file, name),
                    approx_size=_approx_size(file),
                ),
            ),
            source_uri=f"civitai:{model_id}@{version_id}",
            provenance={
                "source": "civitai",
                "model_id": model_id,
                "model_name": model.get("name"),
                "version_id": version.get("id"),
                "version_name": version.get("name"),
                "base_model": base_model,
                "file_id": file.get("id"),
            },
            checkpoint_file=name,
        )

    def _json_object(
        self, path: str, what: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        data = self.get_json(f"{self.base_url}{path}", what, params)
        if not isinstance(data, dict):
            raise Unavailable(f"civitai: the answer for {what} is not a JSON object")
        return data

    def _model(self, ref: ModelRef) -> tuple[dict[str, Any], str | None]:
        """The model and the version the reference names (None: take the newest)."""
        if ref.name.isdigit():
            try:
                model = self._json_object(f"/api/v1/models/{ref.name}", f"model {ref.name}")
            except NotFound:
                if ref.version:
                    raise
            else:
                return model, ref.version
            # Perhaps a version id: it names its model.
            version = self._json_object(
                f"/api/v1/model-versions/{ref.name}", f"model or version {ref.name}"
            )
            owner = version.get("modelId")
            return self._json_object(f"/api/v1/models/{owner}", f"model {owner}"), ref.name
        slug = ref.name.lower()
        found = self._json_object(
            "/api/v1/models",
            f"models named {slug!r}",
            {"query": slug.replace("-", " "), "limit": "100"},
        )
        for item in found.get("items") or []:
            if isinstance(item, dict) and civitai_slug(str(item.get("name") or "")) == slug:
                return item, ref.version
        raise NotFound(f"civitai: no model with slug {slug!r}")


def _model_file(ref: ModelRef, version: dict[str, Any]) -> dict[str, Any]:
    """The version's safetensors `Model` file; pickle-only versions are refused."""
    files = [f for f in version.get("files") or [] if isinstance(f, dict)]
    models = [f for f in files if f.get("type") == "Model"]
    safe = [f for f in models if (f.get("metadata") or {}).get("format") == "SafeTensor"]
    if safe:
        return next((f for f in safe if f.get("primary")), safe[0])
    if not models:
        raise invalid_ref(ref, f"version {version.get('id')} has no model file")
    formats = {str((f.get("metadata") or {}).get("format")) for f in models}
    names = ", ".join(str(f.get("name")) for f in models)
    if "PickleTensor" in formats:
        raise invalid_ref(ref, f"{PICKLE_REFUSAL} ({names})")
    raise invalid_ref(ref, f"refused: model files in {', '.join(sorted(formats))} format ({names})")


def _sha256(file: dict[str, Any], name: str) -> str | None:
    """The published SHA256, lower-cased; None when CivitAI states none (then only the
    measured hash is recorded)."""
    value = (file.get("hashes") or {}).get("SHA256")
    if value is None:
        return None
    digest = str(value).lower()
    if not _SHA256.fullmatch(digest):
        raise Unavailable(f"civitai: the published SHA256 of {name} is malformed: {value!r}")
    return digest


def _approx_size(file: dict[str, Any]) -> int | None:
    """`sizeKB` in bytes; None when it is missing or not a sane number."""
    value = file.get("sizeKB")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**50:
        return None
    return round(value * 1024)
