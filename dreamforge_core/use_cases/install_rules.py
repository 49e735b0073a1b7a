"""What an install refuses before it fetches anything.

- A remote file named like one the installer writes itself (the descriptor): it would
  overwrite the descriptor, or be overwritten by it.
- Another version of a model already installed under the same id: the registry entry, and the
  weights jobs on that id load, would change under everyone using it. A different source
  reference (another revision, another origin) or different published bytes for a file of the
  same reference count as another version; the same one again is a resumable re-download.
"""

from __future__ import annotations

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import FieldError, InvalidInput, ModelConflict
from dreamforge_core.ports.model_source import ResolvedModel

DESCRIPTOR_FILE = "dreamforge-model.json"
REPLACE_HINT = "`dreamforge model download --replace` replaces it"


def refuse_installer_names(model: ResolvedModel) -> None:
    for file in model.files:
        if file.name.rsplit("/", 1)[-1].lower() == DESCRIPTOR_FILE:
            raise InvalidInput.for_fields(
                [
                    FieldError(
                        "ref",
                        f"{model.ref}: file name {file.name!r} is reserved for the installer's "
                        "own descriptor",
                    )
                ]
            )


def refuse_replacement(
    earlier: ModelDescriptor | None, model: ResolvedModel, model_id: str
) -> None:
    """Raises ModelConflict when installing `model` as `model_id` would replace `earlier`."""
    if earlier is None:
        return
    if earlier.source_uri != model.source_uri:
        raise ModelConflict(
            f"model {model_id} is installed from {earlier.source_uri or 'an unknown source'}; "
            f"{model.source_uri} is another version and would replace it ({REPLACE_HINT})",
            details={"model_id": model_id, "installed": earlier.source_uri},
        )
    recorded = earlier.provenance.get("files")
    for file in model.files:
        entry = recorded.get(file.name) if isinstance(recorded, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if file.sha256 is not None and sha256 is not None and sha256 != file.sha256:
            raise ModelConflict(
                f"model {model_id} is installed from {model.source_uri}, but the source now "
                f"publishes other bytes for {file.name} (sha256 {file.sha256}, installed "
                f"{sha256}); they would replace it ({REPLACE_HINT})",
                details={"model_id": model_id, "file": file.name},
            )
