"""Hugging Face Hub models: `hf:<owner>/<repo>[@<revision>][#<file|glob>]` (FR-092).

The revision is pinned to its commit first, so every file comes from one snapshot even if the
branch moves during a multi-gigabyte download. The tree listing states each file's size, the
sha256 of LFS files and the git blob id of the others; all of them are checked.

What is downloaded:
- `#<file|glob>`: the matching files (fnmatch on the path; `*` crosses folders), minus types
  that are not accepted. One `.safetensors` among them makes an `sdxl-checkpoint`; with
  `model_index.json` among them, an `sdxl-diffusers` folder.
- no selector, `model_index.json` present: an `sdxl-diffusers` folder: `model_index.json` and
  the accepted files in the component folders it names (all folders when it names none), so
  the single-file checkpoints and ONNX/Flax/OpenVINO exports many repos also carry stay behind.
  Where `x.safetensors` and a variant such as `x.fp16.safetensors` both exist only `x` is taken:
  it is what `from_pretrained` loads without a `variant`.
- no selector, no `model_index.json`: the one top-level `.safetensors` (`sdxl-checkpoint`);
  anything else is ambiguous and asks for `#<file>`.
- a repository tagged `lora` (as the Hub tags LoRA repositories): the one weights file chosen
  as above is an `sdxl-lora`; its base is the `base_model:` tag when there is one.
- `configs_only` (the SDXL base config single-file checkpoints load with): the same choice
  reduced to configs and tokenizers, kind `sdxl-config`.

Name (folder and registry id): `<owner>--<repo>` lower-cased; a checkpoint picked with a
selector adds `--<file stem>`, so two checkpoints of one repo do not share a folder. Version:
the first 12 hex digits of the commit.

It is one module because pinning, listing and the selection rules above are one resolution,
and all of it is the Hub's alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

import httpx

from dreamforge_adapters.model_sources.base import FetchingSource
from dreamforge_adapters.model_sources.file_rules import (
    KIND_CHECKPOINT,
    KIND_CONFIG,
    KIND_DIFFUSERS,
    KIND_LORA,
    check_names,
    invalid_ref,
    is_allowed,
    is_config,
    is_pickle,
    is_weights,
    refusal,
)
from dreamforge_core.domain.model import id_slug
from dreamforge_core.domain.model_ref import ModelRef
from dreamforge_core.errors import DreamForgeError, NotFound, Unavailable
from dreamforge_core.ports.model_source import DownloadProgress, ResolvedModel, SourceFile

DEFAULT_ENDPOINT = "https://huggingface.co"
MODEL_INDEX = "model_index.json"
UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_OID = re.compile(r"[0-9a-f]{40}")
# `<stem>.<variant>[-00001-of-00002].safetensors`, e.g. diffusion_pytorch_model.fp16.safetensors
_VARIANT = re.compile(r"(?P<stem>[^/]+?)\.[A-Za-z0-9_]+(?P<shard>-\d{5}-of-\d{5})?\.safetensors")


@dataclass(frozen=True, slots=True)
class _Entry:
    path: str
    size: int
    sha256: str | None  # LFS files
    git_oid: str | None  # the others


@dataclass(frozen=True, slots=True)
class _Choice:
    paths: list[str]
    kind: str
    checkpoint: str | None


class HfSource(FetchingSource):
    """Resolves `hf:` references against a Hub endpoint; see the module docstring."""

    scheme = "hf"
    supports_configs_only: ClassVar[bool] = True
    token_env = "HF_TOKEN"  # noqa: S105 - a setting's name, not a secret

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        token: str | None = None,
        *,
        configs_only: bool = False,
        **options: Any,
    ) -> None:
        """`options`: FetchingSource's (client, concurrency, attempts, timeout_s, progress,
        sleep)."""
        super().__init__(endpoint, token, **options)
        self.configs_only = configs_only

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        progress: DownloadProgress | None = None,
        configs_only: bool = False,
    ) -> HfSource:
        """Endpoint and token under the names huggingface_hub reads: HF_ENDPOINT, HF_TOKEN
        (HUGGING_FACE_HUB_TOKEN, its older name, as a fallback)."""
        return cls(
            endpoint=environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT,
            token=environ.get("HF_TOKEN") or environ.get("HUGGING_FACE_HUB_TOKEN") or None,
            configs_only=configs_only,
            progress=progress,
        )

    def resolve(self, ref: ModelRef) -> ResolvedModel:
        if ref.source != self.scheme:
            raise invalid_ref(ref, "not a Hugging Face reference")
        repo = ref.name
        commit, tags = self._commit(repo, ref.revision)
        entries = {e.path: e for e in self._tree(repo, commit)}
        check_names(ref, entries)  # a hostile listing fails here, before any download
        if ref.selector:
            choice = self._select(ref, commit, list(entries))
        else:
            choice = self._auto(ref, commit, list(entries))
        files = tuple(
            SourceFile(
                name=path,
                url=self._file_url(repo, commit, path),
                size=entries[path].size,
                sha256=entries[path].sha256,
                git_oid=entries[path].git_oid,
            )
            for path in sorted(choice.paths)
        )
        provenance: dict[str, Any] = {}
        if "lora" in tags and choice.kind == KIND_CHECKPOINT:
            choice = _Choice(choice.paths, KIND_LORA, choice.checkpoint)
            bases = [t.removeprefix("base_model:") for t in tags if t.startswith("base_model:")]
            if bases:
                provenance["base_model"] = bases[-1]  # the Hub lists base_model:adapter:… after
        name = id_slug(repo.replace("/", "--"))
        if ref.selector and choice.kind in (KIND_CHECKPOINT, KIND_LORA) and choice.checkpoint:
            stem = choice.checkpoint.rsplit("/", 1)[-1].removesuffix(".safetensors")
            name += "--" + id_slug(stem)
        source_uri = f"hf:{repo}@{commit}" + (f"#{ref.selector}" if ref.selector else "")
        return ResolvedModel(
            ref=ref,
            name=name,
            version=commit[:12],
            kind=choice.kind,
            files=files,
            source_uri=source_uri,
            provenance={
                "source": "hf",
                "repo": repo,
                "revision": ref.revision,
                "commit": commit,
                "selector": ref.selector,
                **provenance,
            },
            checkpoint_file=choice.checkpoint,
        )

    # --- the Hub API -------------------------------------------------------------------------

    def status_error(self, response: httpx.Response, what: str) -> DreamForgeError:
        # The Hub answers 401 for a repository that does not exist when asked anonymously,
        # so that private ones stay hidden; X-Error-Code tells the cases apart.
        code = response.headers.get("X-Error-Code", "")
        if code == "RepoNotFound":
            return NotFound(
                f"hf: {what} not found: no such repository, or a private one ({self.token_hint()})"
            )
        if code in ("RevisionNotFound", "EntryNotFound"):
            return NotFound(f"hf: {what} not found")
        return super().status_error(response, what)

    def _commit(self, repo: str, revision: str) -> tuple[str, list[str]]:
        """The revision's commit, and the repository's tags."""
        url = f"{self.base_url}/api/models/{repo}/revision/{quote(revision, safe='')}"
        info = self.get_json(url, f"{repo}@{revision}")
        commit = info.get("sha") if isinstance(info, dict) else None
        if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
            raise Unavailable(f"hf: no commit sha in the answer for {repo}@{revision}")
        tags = info.get("tags") if isinstance(info, dict) else None
        return commit, [str(t) for t in tags] if isinstance(tags, list) else []

    def _tree(self, repo: str, commit: str) -> list[_Entry]:
        """Every file of the commit; the Hub pages long listings with `Link: rel="next"`."""
        what = f"the file list of {repo}@{commit[:12]}"
        url: str | None = f"{self.base_url}/api/models/{repo}/tree/{commit}"
        params: dict[str, str] | None = {"recursive": "true"}
        entries: list[_Entry] = []
        while url is not None:
            response = self.get(url, what, params)
            try:
                page = response.json()
            except ValueError:
                page = None
            if not isinstance(page, list):
                raise Unavailable(f"hf: {what} is not a JSON list")
            entries.extend(e for e in map(_entry, page) if e is not None)
            link = response.links.get("next", {}).get("url")
            url, params = (urljoin(str(response.url), link) if link else None), None
        return entries

    def _components(self, repo: str, commit: str) -> set[str] | None:
        """The folders `model_index.json` names (e.g. unet, vae); None when it names none."""
        url = self._file_url(repo, commit, MODEL_INDEX)
        index = self.get_json(url, f"{repo}@{commit[:12]}/{MODEL_INDEX}")
        if not isinstance(index, dict):
            return None
        names = {
            key
            for key, value in index.items()
            if not key.startswith("_")
            and isinstance(value, list)
            and len(value) == 2
            and value[0] is not None
        }
        return names or None

    def _file_url(self, repo: str, commit: str, path: str) -> str:
        return f"{self.base_url}/{repo}/resolve/{commit}/{quote(path)}"

    # --- what to download --------------------------------------------------------------------

    def _select(self, ref: ModelRef, commit: str, paths: list[str]) -> _Choice:
        selector = ref.selector or ""
        matched = [p for p in paths if fnmatchcase(p, selector)]
        if not matched:
            raise NotFound(f"hf: no file of {ref.name}@{commit[:12]} matches #{selector}")
        if self.configs_only:
            configs = [p for p in matched if is_config(p)]
            if not configs:
                raise invalid_ref(ref, f"#{selector} matches no config or tokenizer files")
            return _Choice(configs, KIND_CONFIG, None)
        kept = [p for p in matched if is_allowed(p)]
        weights = [p for p in kept if is_weights(p)]
        if not weights:
            if any(is_pickle(p) for p in matched) or not kept:
                raise refusal(ref, [p for p in matched if not is_allowed(p)])
            raise invalid_ref(ref, f"#{selector} matches no .safetensors weights")
        if MODEL_INDEX in kept:
            return _Choice(kept, KIND_DIFFUSERS, _unet_weights(kept))
        if len(weights) == 1:
            return _Choice(kept, KIND_CHECKPOINT, weights[0])
        raise invalid_ref(
            ref,
            f"#{selector} matches {len(weights)} .safetensors files ({', '.join(weights)}); "
            "a checkpoint is one file",
        )

    def _auto(self, ref: ModelRef, commit: str, paths: list[str]) -> _Choice:
        if MODEL_INDEX in paths:
            components = self._components(ref.name, commit)
            in_folders = [
                p
                for p in paths
                if p == MODEL_INDEX
                or ("/" in p and (components is None or p.split("/", 1)[0] in components))
            ]
            if self.configs_only:
                return _Choice([p for p in in_folders if is_config(p)], KIND_CONFIG, None)
            if components is not None:  # without it any folder may be an export, not a part
                _refuse_pickle_only_folders(ref, in_folders)
            kept = _without_variants([p for p in in_folders if is_allowed(p)])
            if not any(is_weights(p) for p in kept):
                if any(is_pickle(p) for p in in_folders):
                    raise refusal(ref, [p for p in in_folders if is_pickle(p)])
                raise invalid_ref(ref, "the diffusers folders hold no .safetensors weights")
            return _Choice(kept, KIND_DIFFUSERS, _unet_weights(kept))
        if self.configs_only:
            configs = [p for p in paths if is_config(p)]
            if not configs:
                raise invalid_ref(ref, "the repository holds no config or tokenizer files")
            return _Choice(configs, KIND_CONFIG, None)
        top = [p for p in paths if "/" not in p and is_weights(p)]
        if len(top) == 1:
            return _Choice(top, KIND_CHECKPOINT, top[0])
        if not any(is_weights(p) for p in paths) and any(is_pickle(p) for p in paths):
            raise refusal(ref, [p for p in paths if is_pickle(p)])
        found = f" (found {', '.join(top)})" if top else ""
        raise invalid_ref(ref, f"cannot tell what to download{found}; add #<file>")


def _entry(raw: Any) -> _Entry | None:
    """A file of the tree listing; None for folders. A malformed entry is the Hub's fault."""
    if not isinstance(raw, dict) or raw.get("type") != "file":
        return None
    path, size, oid, lfs = raw.get("path"), raw.get("size"), raw.get("oid"), raw.get("lfs")
    if not isinstance(path, str) or not isinstance(size, int) or size < 0:
        raise Unavailable(f"hf: malformed file entry in the tree listing: {raw!r:.200}")
    if isinstance(lfs, dict):
        sha256 = str(lfs.get("oid", "")).lower()
        if not _SHA256.fullmatch(sha256):
            raise Unavailable(f"hf: {path}: the LFS entry has no sha256")
        return _Entry(path, size, sha256, None)
    git_oid = oid.lower() if isinstance(oid, str) and _GIT_OID.fullmatch(oid.lower()) else None
    return _Entry(path, size, None, git_oid)


def _unet_weights(paths: Sequence[str]) -> str | None:
    """The file whose sha256 stands for a diffusers model: the UNet's weights, when unsharded."""
    if UNET_WEIGHTS in paths:
        return UNET_WEIGHTS
    unet = [p for p in paths if p.startswith("unet/") and is_weights(p)]
    return unet[0] if len(unet) == 1 else None


def _without_variants(paths: list[str]) -> list[str]:
    """Drops `x.<variant>.safetensors` where `x.safetensors` sits in the same folder."""
    present = set(paths)
    kept = []
    for path in paths:
        folder, _, base = path.rpartition("/")
        match = _VARIANT.fullmatch(base)
        if match is not None:
            plain = f"{match['stem']}{match['shard'] or ''}.safetensors"
            if (f"{folder}/{plain}" if folder else plain) in present:
                continue
        kept.append(path)
    return kept


def _refuse_pickle_only_folders(ref: ModelRef, paths: Sequence[str]) -> None:
    """A component whose weights exist only as pickles cannot be installed safely."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        if "/" in path:
            by_folder.setdefault(path.split("/", 1)[0], []).append(path)
    pickles = [
        p
        for files in by_folder.values()
        if not any(is_weights(f) for f in files)
        for p in files
        if is_pickle(p)
    ]
    if pickles:
        raise refusal(ref, pickles)
