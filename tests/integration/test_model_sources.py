"""The Hugging Face and CivitAI sources against the fake Hub: resolve, fetch, verify, describe.

Contents are a few bytes each; what is under test is which files are chosen, what is pinned and
checked, which errors come out, and that tokens stay out of everything that is stored.

It is one module because both sources are tested against one fake Hub and its fixtures, and
many cases compare the two sources' behaviour.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dreamforge_adapters.model_sources.base import FetchingSource, IntegrityFailure, git_blob_sha1
from dreamforge_adapters.model_sources.civitai import CivitaiSource
from dreamforge_adapters.model_sources.hf import HfSource
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.errors import InvalidInput, NotFound, Unauthorized
from dreamforge_core.ports.model_source import ResolvedModel
from tests.support.fake_hub import CivitaiFile, FakeHub

NOW = datetime(2024, 5, 1, tzinfo=UTC)
HF_TOKEN = "hf_secret_token_123"
CIVITAI_TOKEN = "civitai_secret_token_456"

MODEL_INDEX = json.dumps(
    {
        "_class_name": "StableDiffusionXLPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "image_encoder": [None, None],
    }
).encode()
UNET_WEIGHTS = b"unet-weights-fp32" * 64
DIFFUSERS = {
    "model_index.json": MODEL_INDEX,
    "README.md": b"# tiny\n",
    "sd_xl_tiny.safetensors": b"single-file form",  # top-level checkpoint: not part of the folder
    "unet/config.json": b'{"sample_size": 128}\n',
    "unet/diffusion_pytorch_model.safetensors": UNET_WEIGHTS,
    "unet/diffusion_pytorch_model.fp16.safetensors": b"unet-weights-fp16",  # variant: skipped
    "unet/diffusion_flax_model.msgpack": b"flax",  # not an accepted type: skipped
    "tokenizer/merges.txt": b"#version: 0.2\n",
    "tokenizer/vocab.json": b'{"a": 0}\n',
    "tokenizer/special_tokens_map.json": b"{}\n",
    "tokenizer/tokenizer_config.json": b"{}\n",
    "scheduler/scheduler_config.json": b'{"beta_start": 0.00085}\n',
    "vae_decoder/config.json": b"{}\n",  # an export folder model_index.json does not name
}
DIFFUSERS_CHOSEN = {
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "tokenizer/merges.txt",
    "tokenizer/vocab.json",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "scheduler/scheduler_config.json",
}
SINGLE = b"single checkpoint bytes" * 32
CIVITAI_WEIGHTS = b"civitai checkpoint bytes" * 40


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def no_sleep(_: float) -> None:
    pass


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_hf_repo("Org/Tiny-SDXL", DIFFUSERS)
        server.add_hf_repo("org/single", {"model.safetensors": SINGLE, "README.md": b"hi\n"})
        server.add_hf_repo("org/two", {"a.safetensors": b"a", "b.safetensors": b"b"})
        server.add_hf_repo("org/pickled", {"model.ckpt": b"pickle", "README.md": b"hi\n"})
        server.add_hf_repo("org/evil", {"../evil.safetensors": b"x", "ok.safetensors": b"y"})
        server.add_hf_repo("org/gated", {"model.safetensors": SINGLE}, gated=True)
        add_civitai(server)
        yield server


def add_civitai(server: FakeHub) -> None:
    server.add_civitai_model(
        4201,
        "Tiny XL",
        [
            {
                "id": 9001,
                "name": "v2",
                "files": [
                    CivitaiFile(1, "tinyXL_v2.safetensors", CIVITAI_WEIGHTS),
                    CivitaiFile(2, "tinyXL_v2.yaml", b"cfg", "Other", "Config", primary=False),
                ],
            },
            {"id": 9000, "name": "v1", "files": [(3, "tinyXL_v1.ckpt", b"pk", "PickleTensor")]},
        ],
    )
    server.add_civitai_model(
        4300,
        "Gated XL",
        [{"id": 9300, "name": "v1", "gated": True, "files": [(4, "gated.safetensors", SINGLE)]}],
    )
    server.add_civitai_model(
        4400,
        "Liar XL",
        [
            {
                "id": 9400,
                "name": "v1",
                "files": [CivitaiFile(5, "liar.safetensors", SINGLE, advertised_sha256="ab" * 32)],
            }
        ],
    )
    server.add_civitai_model(
        4500,
        "Old SD",
        [
            {
                "id": 9500,
                "name": "v1",
                "baseModel": "SD 1.5",
                "files": [(6, "old.safetensors", b"o")],
            }
        ],
    )


@pytest.fixture
def hf(hub: FakeHub) -> Iterator[HfSource]:
    with HfSource(endpoint=hub.url, sleep=no_sleep) as source:
        yield source


@pytest.fixture
def civitai(hub: FakeHub) -> Iterator[CivitaiSource]:
    with CivitaiSource(base_url=hub.url, sleep=no_sleep) as source:
        yield source


def install(source: FetchingSource, model: ResolvedModel, folder: Path) -> ModelDescriptor:
    files = source.fetch(model, folder)
    checksums = source.verify(model, files)
    return source.to_model_descriptor(model, folder, checksums, NOW)


# --- Hugging Face ---------------------------------------------------------------------------


def test_hf_diffusers_repo_resolves_pinned_with_hashes(hub: FakeHub, hf: HfSource) -> None:
    commit = hub.add_hf_repo("Org/Tiny-SDXL", DIFFUSERS)  # same files: same commit
    model = hf.resolve(parse_model_ref("hf:Org/Tiny-SDXL"))
    assert model.kind == "sdxl-diffusers"
    assert (model.name, model.version) == ("org--tiny-sdxl", commit[:12])
    assert model.source_uri == f"hf:Org/Tiny-SDXL@{commit}"
    assert model.provenance == {
        "source": "hf",
        "repo": "Org/Tiny-SDXL",
        "revision": "main",
        "commit": commit,
        "selector": None,
    }
    files = {f.name: f for f in model.files}
    assert set(files) == DIFFUSERS_CHOSEN
    weights = files["unet/diffusion_pytorch_model.safetensors"]
    assert (weights.sha256, weights.size, weights.git_oid) == (
        sha(UNET_WEIGHTS),
        len(UNET_WEIGHTS),
        None,
    )
    config = files["unet/config.json"]
    data = DIFFUSERS["unet/config.json"]
    assert config.sha256 is None
    assert config.git_oid == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert f"/resolve/{commit}/" in weights.url  # downloads come from the pinned commit
    assert model.checkpoint_file == "unet/diffusion_pytorch_model.safetensors"


def test_hf_install_gives_an_installed_descriptor(hf: HfSource, tmp_path: Path) -> None:
    model = hf.resolve(parse_model_ref("hf:Org/Tiny-SDXL@main"))
    seen: list[str] = []
    files = hf.fetch(model, tmp_path, progress=lambda name, done, total: seen.append(name))
    checksums = hf.verify(model, files)
    desc = hf.to_model_descriptor(model, tmp_path, checksums, NOW)
    assert desc.id == "org--tiny-sdxl"
    assert desc.installed
    assert desc.enabled
    assert desc.local_path == str(tmp_path.resolve())
    assert desc.checkpoint_hash == sha(UNET_WEIGHTS)
    assert desc.provenance["files"] == {
        name: {"sha256": sha(DIFFUSERS[name]), "size": len(DIFFUSERS[name])}
        for name in DIFFUSERS_CHOSEN
    }
    assert desc.provenance["commit"] == model.provenance["commit"]
    assert set(seen) == DIFFUSERS_CHOSEN
    for name in DIFFUSERS_CHOSEN:
        assert (tmp_path / name).read_bytes() == DIFFUSERS[name]
    # A second run finds everything verified and downloads nothing.
    again = hf.fetch(model, tmp_path)
    assert all(f.skipped and f.fetched_bytes == 0 for f in again)


def test_hf_verify_catches_a_config_changed_after_the_fetch(hf: HfSource, tmp_path: Path) -> None:
    model = hf.resolve(parse_model_ref("hf:Org/Tiny-SDXL"))
    files = hf.fetch(model, tmp_path)
    path = tmp_path / "unet/config.json"
    path.write_bytes(b'{"sample_size": 64}\n')  # same length, other content
    assert git_blob_sha1(path, path.stat().st_size) != next(
        f.git_oid for f in model.files if f.name == "unet/config.json"
    )
    with pytest.raises(IntegrityFailure, match=r"unet/config\.json"):
        hf.verify(model, files)


def test_hf_file_selector_gives_a_checkpoint(hf: HfSource, tmp_path: Path) -> None:
    model = hf.resolve(parse_model_ref("hf:org/single#model.safetensors"))
    assert model.kind == "sdxl-checkpoint"
    assert [f.name for f in model.files] == ["model.safetensors"]
    assert model.source_uri.endswith("#model.safetensors")
    assert model.provenance["selector"] == "model.safetensors"
    desc = install(hf, model, tmp_path)
    assert desc.checkpoint_hash == sha(SINGLE)
    assert desc.local_path == str((tmp_path / "model.safetensors").resolve())


def test_hf_single_file_repo_without_selector(hf: HfSource) -> None:
    model = hf.resolve(parse_model_ref("hf:org/single"))
    assert model.kind == "sdxl-checkpoint"
    assert model.name == "org--single"
    assert model.checkpoint_file == "model.safetensors"


def test_hf_two_checkpoints_need_a_selector(hf: HfSource) -> None:
    with pytest.raises(InvalidInput, match="add #<file>"):
        hf.resolve(parse_model_ref("hf:org/two"))
    model = hf.resolve(parse_model_ref("hf:org/two#b.*"))
    assert model.checkpoint_file == "b.safetensors"
    assert model.name == "org--two--b"  # its own folder and id beside org/two#a


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("hf:org/single#nothing.safetensors", NotFound, r"nothing\.safetensors"),  # no match
        ("hf:org/pickled", InvalidInput, "pickle checkpoint"),  # pickle-only repo
        ("hf:org/pickled#model.ckpt", InvalidInput, "pickle checkpoint"),
        ("hf:org/missing", NotFound, "org/missing"),  # unknown repo
        ("hf:org/single@nope", NotFound, "nope"),  # unknown revision
    ],
)
def test_hf_refuses_what_it_cannot_resolve(
    hf: HfSource, ref: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        hf.resolve(parse_model_ref(ref))


def test_hf_name_escaping_the_folder_is_refused_before_any_download(
    hub: FakeHub, hf: HfSource
) -> None:
    with pytest.raises(InvalidInput, match="evil"):
        hf.resolve(parse_model_ref("hf:org/evil#ok.safetensors"))
    assert not [r for r in hub.requests if "/resolve/" in r.path]


def test_hf_gated_repo_needs_the_token(hub: FakeHub, tmp_path: Path) -> None:
    hub.require_token(HF_TOKEN)
    with HfSource(endpoint=hub.url) as anonymous, pytest.raises(Unauthorized, match="HF_TOKEN"):
        anonymous.resolve(parse_model_ref("hf:org/gated"))
    with HfSource(endpoint=hub.url, token=HF_TOKEN) as source:
        model = source.resolve(parse_model_ref("hf:org/gated"))
        desc = install(source, model, tmp_path)
    assert desc.checkpoint_hash == sha(SINGLE)
    assert HF_TOKEN not in repr(model)
    assert HF_TOKEN not in json.dumps(desc.to_dict())
    downloads = [r for r in hub.requests if "/resolve/" in r.path]
    assert downloads
    assert all(r.headers.get("authorization") == f"Bearer {HF_TOKEN}" for r in downloads)


def test_hf_corrupted_file_fails_and_leaves_nothing(
    hub: FakeHub, hf: HfSource, tmp_path: Path
) -> None:
    name = "unet/diffusion_pytorch_model.safetensors"
    hub.corrupt(f"Org/Tiny-SDXL/{name}")
    model = hf.resolve(parse_model_ref("hf:Org/Tiny-SDXL"))
    with pytest.raises(IntegrityFailure) as caught:
        hf.fetch(model, tmp_path)
    message = caught.value.message
    assert name in message
    assert sha(UNET_WEIGHTS) in message
    assert caught.value.code == "integrity"
    assert not (tmp_path / name).exists()
    assert not (tmp_path / f"{name}.part").exists()


def test_hf_rides_out_503_bursts(hub: FakeHub, hf: HfSource, tmp_path: Path) -> None:
    hub.fail_next("/api/models/", [503, 503])
    model = hf.resolve(parse_model_ref("hf:org/single"))
    hub.fail_next("/resolve/", [503, 503])
    files = hf.fetch(model, tmp_path)
    assert hf.verify(model, files) == {"model.safetensors": sha(SINGLE)}


def test_hf_follows_paged_tree_listings() -> None:
    commit = "c" * 40
    api = "https://hub.test/api/models/org/paged"
    tree = f"{api}/tree/{commit}"

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == f"{api}/revision/main":
            return httpx.Response(200, json={"sha": commit})
        if url == f"{tree}?recursive=true":
            page = [{"type": "file", "path": "README.md", "size": 3, "oid": "1" * 40}]
            return httpx.Response(200, json=page, headers={"Link": f'<{tree}?c=2>; rel="next"'})
        if url == f"{tree}?c=2":
            assert request.headers["authorization"] == "Bearer t"
            lfs = {"oid": "d" * 64, "size": 5, "pointerSize": 130}
            page = [
                {"type": "file", "path": "w.safetensors", "size": 5, "oid": "2" * 40, "lfs": lfs}
            ]
            return httpx.Response(200, json=page)
        return httpx.Response(404)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    with client, HfSource(endpoint="https://hub.test", token="t", client=client) as source:
        model = source.resolve(parse_model_ref("hf:org/paged"))
    assert model.checkpoint_file == "w.safetensors"
    assert model.files[0].sha256 == "d" * 64


def test_hf_configs_only_lists_no_weights(hub: FakeHub) -> None:
    with HfSource(endpoint=hub.url, configs_only=True) as source:
        model = source.resolve(parse_model_ref("hf:Org/Tiny-SDXL"))
    assert model.kind == "sdxl-config"
    assert model.checkpoint_file is None
    names = {f.name for f in model.files}
    assert names == {n for n in DIFFUSERS_CHOSEN if not n.endswith(".safetensors")}


# --- CivitAI --------------------------------------------------------------------------------


def test_civitai_by_id_installs_the_newest_safetensors_version(
    civitai: CivitaiSource, tmp_path: Path
) -> None:
    model = civitai.resolve(parse_model_ref("civitai:4201"))
    assert (model.kind, model.name, model.version) == ("sdxl-checkpoint", "tiny-xl", "9001")
    assert model.source_uri == "civitai:4201@9001"
    assert model.provenance == {
        "source": "civitai",
        "model_id": 4201,
        "model_name": "Tiny XL",
        "version_id": 9001,
        "version_name": "v2",
        "base_model": "SDXL 1.0",
        "file_id": 1,
    }
    [file] = model.files
    assert (file.name, file.sha256, file.size) == (
        "tinyXL_v2.safetensors",
        sha(CIVITAI_WEIGHTS),
        None,
    )
    desc = install(civitai, model, tmp_path)
    assert desc.id == "tiny-xl-v9001"
    assert desc.checkpoint_hash == sha(CIVITAI_WEIGHTS)
    assert desc.local_path == str((tmp_path / "tinyXL_v2.safetensors").resolve())
    assert (tmp_path / "tinyXL_v2.safetensors").read_bytes() == CIVITAI_WEIGHTS


@pytest.mark.parametrize("ref", ["civitai:tiny-xl", "civitai:4201@9001", "civitai:9001"])
def test_civitai_by_slug_version_or_version_id(civitai: CivitaiSource, ref: str) -> None:
    model = civitai.resolve(parse_model_ref(ref))
    assert model.source_uri == "civitai:4201@9001"
    assert model.checkpoint_file == "tinyXL_v2.safetensors"


def test_civitai_pickle_only_version_is_refused(civitai: CivitaiSource) -> None:
    with pytest.raises(InvalidInput, match="pickle checkpoint"):
        civitai.resolve(parse_model_ref("civitai:4201@9000"))


def test_civitai_gated_version_needs_the_token(hub: FakeHub, tmp_path: Path) -> None:
    hub.require_token(CIVITAI_TOKEN)
    with (
        CivitaiSource(base_url=hub.url) as anonymous,
        pytest.raises(Unauthorized, match="CIVITAI_TOKEN"),
    ):
        anonymous.resolve(parse_model_ref("civitai:4300"))
    with CivitaiSource(base_url=hub.url, token=CIVITAI_TOKEN) as source:
        model = source.resolve(parse_model_ref("civitai:gated-xl"))
        desc = install(source, model, tmp_path)
    assert desc.checkpoint_hash == sha(SINGLE)
    assert CIVITAI_TOKEN not in repr(model)
    assert CIVITAI_TOKEN not in json.dumps(desc.to_dict())
    assert CIVITAI_TOKEN not in repr(source)


def test_civitai_wrong_advertised_hash_fails_the_fetch(
    civitai: CivitaiSource, tmp_path: Path
) -> None:
    model = civitai.resolve(parse_model_ref("civitai:4400"))
    with pytest.raises(IntegrityFailure, match="ab" * 32):
        civitai.fetch(model, tmp_path)
    assert not (tmp_path / "liar.safetensors").exists()


def test_civitai_non_sdxl_base_model_is_refused(civitai: CivitaiSource) -> None:
    with pytest.raises(InvalidInput, match=r"SD 1\.5"):
        civitai.resolve(parse_model_ref("civitai:4500"))


@pytest.mark.parametrize("ref", ["civitai:999", "civitai:no-such-model", "civitai:4201@9400"])
def test_civitai_unknown_model_or_foreign_version_is_not_found(
    civitai: CivitaiSource, ref: str
) -> None:
    with pytest.raises(NotFound):
        civitai.resolve(parse_model_ref(ref))


def test_sources_build_from_the_environment(hub: FakeHub) -> None:
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": HF_TOKEN, "DREAMFORGE_CIVITAI_BASE_URL": hub.url}
    hub.require_token(HF_TOKEN)
    assert HfSource.supports_configs_only
    assert not CivitaiSource.supports_configs_only
    with HfSource.from_env(env) as hf:
        assert hf.resolve(parse_model_ref("hf:org/gated")).kind == "sdxl-checkpoint"
    with HfSource.from_env(env, configs_only=True) as configs:
        assert configs.resolve(parse_model_ref("hf:Org/Tiny-SDXL")).kind == "sdxl-config"
    with CivitaiSource.from_env(env) as civitai:
        assert civitai.resolve(parse_model_ref("civitai:4201")).version == "9001"
