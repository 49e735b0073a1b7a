"""Model references (FR-092).

`hf:<repo>[@<rev>][#<file|pattern>]` and `civitai:<id|slug>[@<version>]`. Any other source
prefix is a plug-in's (FR-095): it takes the general form `<source>:<name>[@<version>][#<file>]`
here, and whether the source is installed is decided where the sources are known.

A revision is a branch, tag or commit (`main`, `v1.0`, `refs/pr/1`): names of letters, digits,
'.', '_' and '-' joined by single '/', none starting with '.', at most 255 characters. It is
checked here, before any request, so nothing URL-significant (`?`, `%`, `#`, spaces, control
characters) or path-like (`..`, a leading '/') ever reaches a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dreamforge_core.errors import FieldError, InvalidInput

_HF_REPO = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", re.ASCII)
_CIVITAI_ID = re.compile(r"[A-Za-z0-9][\w-]*", re.ASCII)
_DIGITS = re.compile(r"[0-9]+")
_HF_REVISION = re.compile(r"[A-Za-z0-9_-][\w.-]*(/[A-Za-z0-9_-][\w.-]*)*", re.ASCII)
MAX_REVISION_LENGTH = 255
_SOURCE = re.compile(r"[a-z][a-z0-9_-]*", re.ASCII)  # an entry-point name, lower case
_PART = re.compile(r"[^\s@#]+")  # a plug-in's name, version or file: no blanks, no separators


@dataclass(frozen=True, slots=True)
class ModelRef:
    source: str  # "hf", "civitai", or a plug-in's prefix
    name: str  # repo id, CivitAI model id / slug, or what the plug-in names
    version: str | None = None  # revision for hf, version id for civitai
    selector: str | None = None  # file name or glob pattern (hf, and plug-ins that take one)

    def __str__(self) -> str:
        text = f"{self.source}:{self.name}"
        if self.version:
            text += f"@{self.version}"
        if self.selector:
            text += f"#{self.selector}"
        return text

    @property
    def revision(self) -> str:
        return self.version or "main"


def _bad(ref: str, why: str) -> InvalidInput:
    return InvalidInput.for_fields([FieldError("ref", f"{ref!r}: {why}")])


def parse_model_ref(ref: str) -> ModelRef:
    """Parses a reference; raises InvalidInput naming what is wrong."""
    source, sep, rest = ref.strip().partition(":")
    if not sep or not rest:
        raise _bad(
            ref,
            "expected hf:<repo>[@rev][#file], civitai:<id|slug>[@version] or "
            "<source>:<name>[@version][#file]",
        )
    if source == "hf":
        body, _, selector = rest.partition("#")
        name, _, version = body.partition("@")
        if not _HF_REPO.fullmatch(name):
            raise _bad(ref, "repository must look like owner/name")
        if "@" in body and not version:
            raise _bad(ref, "empty revision after @")
        if version and not _valid_revision(version):
            raise _bad(
                ref,
                f"revision must be a branch, tag or commit: names of letters, digits, '.', '_' "
                f"and '-' joined by '/', none starting with '.', no '..', at most "
                f"{MAX_REVISION_LENGTH} characters",
            )
        if "#" in rest and not selector:
            raise _bad(ref, "empty file pattern after #")
        return ModelRef("hf", name, version or None, selector or None)
    if source == "civitai":
        if "#" in rest:
            raise _bad(ref, "civitai references take no #file part")
        name, _, version = rest.partition("@")
        if not _CIVITAI_ID.fullmatch(name):
            raise _bad(ref, "model must be a numeric id or a slug")
        if "@" in rest and not _DIGITS.fullmatch(version):
            raise _bad(ref, "version must be a numeric id")
        return ModelRef("civitai", name, version or None)
    return _plugin_ref(ref, source, rest)


def _plugin_ref(ref: str, source: str, rest: str) -> ModelRef:
    if not _SOURCE.fullmatch(source):
        raise _bad(ref, f"source {source!r} must be lower-case letters, digits, '_' or '-'")
    body, hashed, selector = rest.partition("#")
    name, at, version = body.partition("@")
    for part, what, given in (
        (name, "name", True),
        (version, "version", at),
        (selector, "file", hashed),
    ):
        if given and not _PART.fullmatch(part):
            raise _bad(ref, f"the {what} must not be empty or hold blanks, '@' or '#'")
    return ModelRef(source, name, version or None, selector or None)


def _valid_revision(revision: str) -> bool:
    return (
        len(revision) <= MAX_REVISION_LENGTH
        and ".." not in revision
        and _HF_REVISION.fullmatch(revision) is not None
    )
