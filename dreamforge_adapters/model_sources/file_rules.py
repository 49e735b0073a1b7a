"""Which files a model folder may receive (NFR-103), and the model kinds sources produce.

Pickle formats can run code when loaded and are refused outright; every other file must be a
known weights, config, tokenizer or text type, and its name must stay inside the folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from dreamforge_adapters.model_sources.manifest import MANIFEST_NAME
from dreamforge_adapters.model_sources.part_file import PART_SUFFIX
from dreamforge_adapters.model_sources.remote_files import UnsafePath, safe_target
from dreamforge_core.domain.model_ref import ModelRef
from dreamforge_core.errors import FieldError, InvalidInput
from dreamforge_core.use_cases.install_rules import DESCRIPTOR_FILE

#: The file types a model folder may receive: weights, configs, tokenizers, docs.
ALLOWED_SUFFIXES = frozenset({".safetensors", ".json", ".txt", ".md", ".model", ".yaml"})
TOKENIZER_FILES = frozenset(
    {
        "merges.txt",
        "vocab.json",
        "tokenizer.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "spiece.model",
    }
)
#: Formats unpickled on load, i.e. able to run code: never downloaded.
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl"})
#: What a config-only download (the SDXL base config of single-file checkpoints) keeps.
CONFIG_SUFFIXES = frozenset({".json", ".txt", ".model"})
PICKLE_REFUSAL = "refused: pickle checkpoint; only safetensors are accepted"

KIND_DIFFUSERS = "sdxl-diffusers"
KIND_CHECKPOINT = "sdxl-checkpoint"
KIND_CONFIG = "sdxl-config"
KIND_LORA = "sdxl-lora"

# Names are checked before any folder exists; only the name's shape matters then.
_NAME_CHECK_ROOT = Path("/dreamforge-name-check")


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _basename(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def is_allowed(name: str) -> bool:
    return _suffix(name) in ALLOWED_SUFFIXES or _basename(name) in TOKENIZER_FILES


def is_pickle(name: str) -> bool:
    return _suffix(name) in PICKLE_SUFFIXES


def is_config(name: str) -> bool:
    return _suffix(name) in CONFIG_SUFFIXES or _basename(name) in TOKENIZER_FILES


def is_weights(name: str) -> bool:
    return _suffix(name) == ".safetensors"


def refusal(ref: ModelRef, names: Iterable[str]) -> InvalidInput:
    """The error for files that will not be downloaded; pickles get the pickle message."""
    names = sorted(names)
    pickles = [n for n in names if is_pickle(n)]
    if pickles:
        why = f"{PICKLE_REFUSAL} ({', '.join(pickles)})"
    else:
        accepted = ", ".join(sorted(ALLOWED_SUFFIXES))
        why = f"refused file types: {', '.join(names)} (accepted: {accepted})"
    return invalid_ref(ref, why)


def invalid_ref(ref: ModelRef, why: str) -> InvalidInput:
    return InvalidInput.for_fields([FieldError("ref", f"{ref}: {why}")])


#: Files the installer writes into a model folder itself: no download may have their names.
INSTALLER_FILES = frozenset({MANIFEST_NAME, DESCRIPTOR_FILE})


def check_names(ref: ModelRef, names: Iterable[str]) -> None:
    """Refuses names that could land outside the model folder or clash with the installer's
    own files (descriptor, manifest, partial downloads)."""
    for name in names:
        try:
            safe_target(_NAME_CHECK_ROOT, name)
        except UnsafePath as exc:
            raise invalid_ref(ref, exc.message) from None
        base = _basename(name)
        if (
            base in INSTALLER_FILES
            or base.startswith(MANIFEST_NAME + ".")  # the manifest's temporary files
            or base.endswith(PART_SUFFIX)
        ):
            raise invalid_ref(ref, f"file name {name!r} is reserved for the installer's own files")
