"""The fake Hugging Face / CivitAI servers behave like the real ones where the downloader looks.

huggingface_hub itself is the judge for the HF side: if it downloads, lists and resumes against
the fake, the fake speaks its protocol. The rest is checked with plain httpx.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, RepoFile, RepoFolder, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.support.fake_hub import CivitaiFile, FakeHub

REPO = "org/tiny-sdxl"
WEIGHTS = bytes(range(256)) * 1024  # 256 KiB: several 64 KiB writes
CONFIG = b'{"sample_size": 128}\n'
TOKEN = "hf_secret"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    # huggingface_hub read these at import; the endpoint goes in as an argument instead.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    with FakeHub() as server:
        server.add_hf_repo(REPO, {"unet/model.safetensors": WEIGHTS, "unet/config.json": CONFIG})
        server.add_civitai_model(
            4201,
            "Tiny XL",
            [
                {
                    "id": 9001,
                    "name": "v2",
                    "files": [
                        CivitaiFile(1, "tiny_v2.safetensors", WEIGHTS),
                        CivitaiFile(2, "tiny_v2.yaml", CONFIG, "Other", "Config", primary=False),
                    ],
                },
                {"id": 9000, "name": "v1", "files": [(3, "tiny_v1.ckpt", CONFIG, "PickleTensor")]},
            ],
        )
        yield server


def test_hf_hub_download_of_lfs_and_regular_files(hub: FakeHub, tmp_path: Path) -> None:
    for name, data in (("unet/model.safetensors", WEIGHTS), ("unet/config.json", CONFIG)):
        path = hf_hub_download(REPO, name, endpoint=hub.url, cache_dir=tmp_path, token=False)
        assert Path(path).read_bytes() == data
    head = httpx.head(hub.hf_url(REPO, "unet/model.safetensors"))
    assert head.headers["x-linked-etag"] == f'"{hashlib.sha256(WEIGHTS).hexdigest()}"'
    assert head.headers["content-length"] == str(len(WEIGHTS))


def test_hf_hub_download_resumes_a_dropped_transfer_with_range(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # huggingface_hub keeps only whole 10 MiB chunks: smaller ones let a small file resume.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hub.drop_after("model.safetensors", 100_000)
    path = hf_hub_download(
        REPO, "unet/model.safetensors", endpoint=hub.url, cache_dir=tmp_path, token=False
    )
    assert Path(path).read_bytes() == WEIGHTS
    assert hub.range_starts("model.safetensors") == [65_536]  # the last whole chunk it kept
    assert hub.bytes_sent[f"{REPO}/unet/model.safetensors"] == 100_000 + len(WEIGHTS) - 65_536


def test_hf_api_listing_and_metadata(hub: FakeHub) -> None:
    api = HfApi(endpoint=hub.url, token=False)
    sha256 = hashlib.sha256(WEIGHTS).hexdigest()
    tree = list(api.list_repo_tree(REPO, recursive=True))
    assert {e.path for e in tree if isinstance(e, RepoFolder)} == {"unet"}
    files = {f.path: f for f in tree if isinstance(f, RepoFile)}
    assert [f.lfs.sha256 if f.lfs else None for f in files.values()] == [None, sha256]
    assert files["unet/config.json"].blob_id == hashlib.sha1(b"blob 21\0" + CONFIG).hexdigest()
    info = api.model_info(REPO, files_metadata=True)
    commit = hub.add_hf_repo(REPO, {"unet/model.safetensors": WEIGHTS, "unet/config.json": CONFIG})
    assert info.sha == commit
    assert {s.rfilename: s.lfs.sha256 for s in info.siblings or [] if s.lfs} == {
        "unet/model.safetensors": sha256
    }
    (entry,) = api.get_paths_info(REPO, ["unet/model.safetensors", "missing.bin"], revision=commit)
    assert isinstance(entry, RepoFile)
    assert entry.size == len(WEIGHTS)


def test_hf_errors_carry_the_hub_error_codes(hub: FakeHub, tmp_path: Path) -> None:
    cases: list[tuple[str, str, str, type[Exception]]] = [
        ("org/nope", "main", "x.bin", RepositoryNotFoundError),
        (REPO, "v9", "unet/config.json", RevisionNotFoundError),
        (REPO, "main", "nope.json", EntryNotFoundError),
    ]
    for repo, revision, name, error in cases:
        with pytest.raises(error):
            hf_hub_download(
                repo, name, revision=revision, endpoint=hub.url, cache_dir=tmp_path, token=False
            )


def test_range_gives_206_with_the_slice_and_416_past_the_end(hub: FakeHub) -> None:
    url = hub.hf_url(REPO, "unet/model.safetensors")
    total = len(WEIGHTS)
    partial = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert partial.status_code == 206
    assert partial.content == WEIGHTS[1000:]
    assert partial.headers["content-range"] == f"bytes 1000-{total - 1}/{total}"
    closed = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert (closed.status_code, closed.content) == (206, WEIGHTS[10:20])
    past = httpx.get(url, headers={"Range": f"bytes={total}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{total}"


def test_civitai_version_and_redirected_download(hub: FakeHub) -> None:
    version = httpx.get(f"{hub.url}/api/v1/model-versions/9001").json()
    primary, config = version["files"]
    assert primary["hashes"]["SHA256"] == hashlib.sha256(WEIGHTS).hexdigest().upper()
    assert primary["downloadUrl"] == version["downloadUrl"] == f"{hub.url}/api/download/models/9001"
    assert config["downloadUrl"].endswith("/api/download/models/9001?fileId=2")

    redirect = httpx.get(primary["downloadUrl"])
    assert redirect.status_code == 307
    assert "/storage/" in redirect.headers["location"]
    for url, name, data in (
        (primary["downloadUrl"], "tiny_v2.safetensors", WEIGHTS),
        (config["downloadUrl"], "tiny_v2.yaml", CONFIG),
    ):
        final = httpx.get(url, follow_redirects=True)
        assert final.content == data
        assert final.headers["content-disposition"] == f'attachment; filename="{name}"'

    model = httpx.get(f"{hub.url}/api/v1/models/4201").json()
    assert [v["id"] for v in model["modelVersions"]] == [9001, 9000]
    found = httpx.get(f"{hub.url}/api/v1/models", params={"query": "tiny-xl"}).json()
    assert [m["id"] for m in found["items"]] == [4201]
    assert httpx.get(f"{hub.url}/api/v1/models/77").json() == {"error": "No model with id 77"}


def test_token_gating(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_hf_repo("org/gated", {"model.safetensors": WEIGHTS}, gated=True)
    hub.add_civitai_model(
        5, "Locked", [{"id": 50, "name": "v1", "gated": True, "files": [(6, "l.bin", CONFIG)]}]
    )
    hub.require_token(TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            "org/gated", "model.safetensors", endpoint=hub.url, cache_dir=tmp_path, token=False
        )
    for url in (hub.hf_url("org/gated", "model.safetensors"), f"{hub.url}/api/download/models/50"):
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers=bearer, follow_redirects=True).status_code == 200
    assert httpx.get(f"{hub.url}/api/download/models/50").json() == {"error": "Unauthorized"}
    assert httpx.get(f"{hub.url}/api/v1/model-versions/50").status_code == 401


def test_fail_next_answers_in_order_then_recovers(hub: FakeHub) -> None:
    hub.fail_next("/api/v1/models/", [429, 503, 503])
    responses = [httpx.get(f"{hub.url}/api/v1/models/4201") for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 503, 503, 200]
    assert responses[0].headers["retry-after"] == "0"
    assert "error" in responses[1].json()


def test_drop_after_cuts_the_body_short(hub: FakeHub) -> None:
    hub.drop_after("/storage/", 70_000)
    received = bytearray()
    try:
        with httpx.stream("GET", f"{hub.url}/api/download/models/9001", follow_redirects=True) as r:
            for chunk in r.iter_bytes():
                received += chunk
    except httpx.RemoteProtocolError:  # Content-Length promised more
        pass
    else:
        pytest.fail("the body was not cut short")
    assert bytes(received) == WEIGHTS[:70_000]
    assert hub.bytes_sent["tiny_v2.safetensors"] == 70_000
    assert (
        httpx.get(f"{hub.url}/api/download/models/9001", follow_redirects=True).content == WEIGHTS
    )


def test_corrupt_flips_a_byte_but_keeps_the_advertised_hash(hub: FakeHub) -> None:
    hub.corrupt("tiny_v2.safetensors")
    body = httpx.get(f"{hub.url}/api/download/models/9001", follow_redirects=True).content
    assert len(body) == len(WEIGHTS)
    assert body != WEIGHTS
    version = httpx.get(f"{hub.url}/api/v1/model-versions/9001").json()
    assert version["files"][0]["hashes"]["SHA256"] == hashlib.sha256(WEIGHTS).hexdigest().upper()
