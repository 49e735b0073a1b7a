"""The model file fetcher against a real HTTP server on loopback (the fake Hub/CivitAI).

What matters is what survives failure: dropped connections and killed processes resume from
the bytes on disk, wrong bytes never reach the target path, tokens stay with their origin.
A few protocol corners the fake server does not produce (a server ignoring `Range`) use
httpx's MockTransport instead.

It is one module because its cases are the fetcher's one promise (survive failure) and share
the fake server's fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dreamforge_adapters.model_sources.fetch import (
    MANIFEST_NAME,
    AccessDenied,
    Fetcher,
    FetchError,
    IntegrityError,
    RemoteFile,
    RemoteNotFound,
    UnsafePath,
    safe_target,
)
from tests.support.fake_hub import CivitaiFile, FakeHub

ROOT = Path(__file__).resolve().parents[2]
REPO = "org/tiny-sdxl"
WEIGHTS_NAME = "unet/diffusion_pytorch_model.safetensors"
WEIGHTS = random.Random(1).randbytes(3 * 1024 * 1024 + 12_345)  # not a whole number of chunks
CONFIG_NAME = "unet/config.json"
CONFIG = b'{"sample_size": 128}\n'
VAE_NAME = "vae/diffusion_pytorch_model.safetensors"
VAE = random.Random(2).randbytes(300_000)
TOKEN = "civitai-secret-token"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_hf_repo(REPO, {WEIGHTS_NAME: WEIGHTS, CONFIG_NAME: CONFIG, VAE_NAME: VAE})
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fetcher(sleeps: list[float]) -> Iterator[Fetcher]:
    with Fetcher(sleep=sleeps.append, chunk_bytes=256 * 1024) as f:
        yield f


def remote(hub: FakeHub, name: str, data: bytes, **overrides: object) -> RemoteFile:
    fields: dict[str, object] = {
        "url": hub.hf_url(REPO, name),
        "name": name,
        "size": len(data),
        "sha256": sha(data),
    }
    fields.update(overrides)
    return RemoteFile(**fields)  # type: ignore[arg-type]


def gets(hub: FakeHub, substring: str) -> list[dict[str, str]]:
    return [h for method, path, h in hub.requests if method == "GET" and substring in path]


def test_fresh_fetch_verifies_reports_progress_and_records_it(hub: FakeHub, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int | None]] = []
    with Fetcher(progress=lambda *call: calls.append(call)) as fetcher:
        got = fetcher.fetch(remote(hub, WEIGHTS_NAME, WEIGHTS), tmp_path)

    target = tmp_path / WEIGHTS_NAME
    assert got.path == target
    assert target.read_bytes() == WEIGHTS
    assert (got.size, got.sha256) == (len(WEIGHTS), sha(WEIGHTS))
    assert (got.skipped, got.resumed_from, got.fetched_bytes) == (False, 0, len(WEIGHTS))
    assert not target.with_name(target.name + ".part").exists()
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest[WEIGHTS_NAME] == {
        "size": len(WEIGHTS),
        "sha256": sha(WEIGHTS),
        "mtime_ns": target.stat().st_mtime_ns,
    }
    assert calls
    assert calls[-1] == (WEIGHTS_NAME, len(WEIGHTS), len(WEIGHTS))
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)


def test_a_verified_file_is_skipped_without_a_request(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    file = remote(hub, WEIGHTS_NAME, WEIGHTS)
    fetcher.fetch(file, tmp_path)
    before = len(hub.requests)
    again = fetcher.fetch(file, tmp_path)
    assert (again.skipped, again.fetched_bytes, again.sha256) == (True, 0, sha(WEIGHTS))
    assert len(hub.requests) == before

    # Changed on disk since it was verified: the stat no longer matches, so it is fetched again.
    (tmp_path / WEIGHTS_NAME).write_bytes(WEIGHTS[:-1] + b"!")
    refetched = fetcher.fetch(file, tmp_path)
    assert not refetched.skipped
    assert (tmp_path / WEIGHTS_NAME).read_bytes() == WEIGHTS


def test_a_present_file_without_a_record_is_hashed_instead_of_downloaded(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    # What a kill between the rename and the manifest update leaves behind.
    (tmp_path / "unet").mkdir()
    (tmp_path / WEIGHTS_NAME).write_bytes(WEIGHTS)
    got = fetcher.fetch(remote(hub, WEIGHTS_NAME, WEIGHTS), tmp_path)
    assert got.skipped
    assert gets(hub, "/resolve/") == []
    assert WEIGHTS_NAME in json.loads((tmp_path / MANIFEST_NAME).read_text())


def test_a_dropped_connection_is_resumed_where_it_stopped(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher, sleeps: list[float]
) -> None:
    hub.drop_after("diffusion_pytorch_model", 1_000_000)  # not on a chunk boundary
    got = fetcher.fetch(remote(hub, WEIGHTS_NAME, WEIGHTS), tmp_path)
    assert (tmp_path / WEIGHTS_NAME).read_bytes() == WEIGHTS
    assert hub.range_starts("diffusion_pytorch_model") == [1_000_000]
    assert got.fetched_bytes == len(WEIGHTS)  # nothing received twice
    assert got.resumed_from == 0  # resumed within this run, not from an earlier one
    assert len(sleeps) == 1


def test_a_part_left_by_an_earlier_run_is_resumed(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    n = 1_234_567
    (tmp_path / "unet").mkdir()
    (tmp_path / (WEIGHTS_NAME + ".part")).write_bytes(WEIGHTS[:n])
    got = fetcher.fetch(remote(hub, WEIGHTS_NAME, WEIGHTS), tmp_path)
    assert [h["range"] for h in gets(hub, "diffusion_pytorch_model")] == [f"bytes={n}-"]
    assert (got.resumed_from, got.fetched_bytes) == (n, len(WEIGHTS) - n)
    assert (tmp_path / WEIGHTS_NAME).read_bytes() == WEIGHTS


def test_a_complete_part_is_verified_on_416_without_a_body(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / (VAE_NAME + ".part")).write_bytes(VAE)
    got = fetcher.fetch(remote(hub, VAE_NAME, VAE), tmp_path)
    assert (got.resumed_from, got.fetched_bytes) == (len(VAE), 0)
    assert hub.range_starts("vae/") == [len(VAE)]
    assert (tmp_path / VAE_NAME).read_bytes() == VAE


def test_a_part_longer_than_the_file_is_discarded(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / (VAE_NAME + ".part")).write_bytes(VAE + b"extra")
    got = fetcher.fetch(remote(hub, VAE_NAME, VAE), tmp_path)
    assert (got.resumed_from, got.fetched_bytes) == (0, len(VAE))
    assert hub.range_starts("vae/") == []
    assert (tmp_path / VAE_NAME).read_bytes() == VAE


def test_corrupt_bytes_are_refused_and_nothing_else_is_touched(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    fetcher.fetch(remote(hub, CONFIG_NAME, CONFIG), tmp_path)
    config_stat = (tmp_path / CONFIG_NAME).stat()
    hub.corrupt(f"{REPO}/{WEIGHTS_NAME}")

    with pytest.raises(IntegrityError) as caught:
        fetcher.fetch(remote(hub, WEIGHTS_NAME, WEIGHTS), tmp_path)

    assert caught.value.code == "integrity"
    assert WEIGHTS_NAME in caught.value.message
    assert sha(WEIGHTS)[:12] in caught.value.message
    assert not (tmp_path / WEIGHTS_NAME).exists()
    assert not (tmp_path / (WEIGHTS_NAME + ".part")).exists()
    assert (tmp_path / CONFIG_NAME).read_bytes() == CONFIG
    assert (tmp_path / CONFIG_NAME).stat().st_mtime_ns == config_stat.st_mtime_ns
    assert set(json.loads((tmp_path / MANIFEST_NAME).read_text())) == {CONFIG_NAME}


def test_a_verified_file_survives_a_failed_update(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    fetcher.fetch(remote(hub, VAE_NAME, VAE), tmp_path)
    newer = VAE[::-1]
    with pytest.raises(IntegrityError):  # the server still has the old bytes
        fetcher.fetch(remote(hub, VAE_NAME, newer), tmp_path)
    assert (tmp_path / VAE_NAME).read_bytes() == VAE
    assert fetcher.fetch(remote(hub, VAE_NAME, VAE), tmp_path).skipped


@pytest.mark.parametrize("delta", [1, -1])
def test_a_wrong_expected_size_is_refused(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher, delta: int
) -> None:
    # Refused on the Content-Length, before any byte is written.
    with pytest.raises(IntegrityError, match=f"server has {len(VAE)} bytes, expected"):
        fetcher.fetch(remote(hub, VAE_NAME, VAE, size=len(VAE) + delta), tmp_path)
    assert not (tmp_path / VAE_NAME).exists()
    assert not (tmp_path / (VAE_NAME + ".part")).exists()


def test_a_gated_file_without_a_token_is_denied_at_once(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher, sleeps: list[float]
) -> None:
    hub.add_hf_repo("org/gated", {"model.safetensors": VAE}, gated=True)
    hub.require_token("hf_right")
    file = RemoteFile(hub.hf_url("org/gated", "model.safetensors"), "model.safetensors")
    with pytest.raises(AccessDenied) as caught:
        fetcher.fetch(file, tmp_path)
    assert caught.value.code == "unauthorized"
    assert "401" in caught.value.message
    assert len(gets(hub, "/org/gated/")) == 1
    assert sleeps == []

    # CivitAI takes the token in the query too; messages must not repeat it.
    hub.add_civitai_model(
        5, "Locked", [{"id": 50, "name": "v1", "gated": True, "files": [(6, "l.bin", CONFIG)]}]
    )
    url = hub.civitai_download_url(50) + "?token=wrong-secret"
    with pytest.raises(AccessDenied) as caught:
        fetcher.fetch(RemoteFile(url, "l.bin"), tmp_path)
    assert "wrong-secret" not in caught.value.message
    assert "/api/download/models/50" in caught.value.message


def test_a_missing_file_is_not_found(hub: FakeHub, tmp_path: Path, fetcher: Fetcher) -> None:
    file = RemoteFile(hub.hf_url(REPO, "nope.safetensors"), "nope.safetensors")
    with pytest.raises(RemoteNotFound) as caught:
        fetcher.fetch(file, tmp_path)
    assert caught.value.code == "not_found"
    assert len(gets(hub, "nope.safetensors")) == 1


def test_429_and_5xx_are_retried_with_backoff(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher, sleeps: list[float]
) -> None:
    hub.fail_next("/resolve/", [429, 503, 502])
    got = fetcher.fetch(remote(hub, VAE_NAME, VAE), tmp_path)
    assert got.sha256 == sha(VAE)
    assert len(gets(hub, "vae/")) == 4
    assert len(sleeps) == 3
    assert sleeps[0] == 0  # the fake's Retry-After: 0 is honoured
    assert 0.5 <= sleeps[1] <= 1.0  # 0.5 s doubled once, jittered down by up to half
    assert 1.0 <= sleeps[2] <= 2.0


def test_retries_end_with_the_last_cause(hub: FakeHub, tmp_path: Path, sleeps: list[float]) -> None:
    hub.fail_next("/resolve/", [503] * 5)
    with Fetcher(attempts=3, sleep=sleeps.append) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.fetch(remote(hub, VAE_NAME, VAE), tmp_path)
    assert type(caught.value) is FetchError
    assert caught.value.code == "download_failed"
    assert "3 attempts" in caught.value.message
    assert "HTTP 503" in caught.value.message
    assert len(gets(hub, "vae/")) == 3
    assert len(sleeps) == 2
    assert not (tmp_path / VAE_NAME).exists()


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "a\\b", "", "C:/x", "a//b", "./a", "a\0b"]
)
def test_unsafe_names_are_refused_before_anything_happens(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher, name: str
) -> None:
    folder = tmp_path / "model"
    with pytest.raises(UnsafePath) as caught:
        fetcher.fetch(RemoteFile(hub.hf_url(REPO, CONFIG_NAME), name), folder)
    assert caught.value.code == "invalid_input"
    assert list(tmp_path.iterdir()) == []
    assert hub.requests == []


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "unet").symlink_to(tmp_path)
    with pytest.raises(UnsafePath):
        safe_target(folder, "unet/config.json")
    assert safe_target(folder, "vae/config.json") == folder / "vae" / "config.json"


def test_civitai_redirect_keeps_the_token_off_the_storage_request(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    hub.add_civitai_model(
        7,
        "Tiny XL",
        [{"id": 70, "name": "v1", "gated": True, "files": [CivitaiFile(8, "tiny.ckpt", VAE)]}],
    )
    hub.require_token(TOKEN)
    # The real API and its storage are different hosts; the fake serves both on one origin,
    # so the API is reached by another name for the redirect to leave the origin.
    url = hub.civitai_download_url(70).replace("127.0.0.1", "localhost")
    file = RemoteFile(url, "tiny.ckpt", len(VAE), sha(VAE), {"Authorization": f"Bearer {TOKEN}"})
    got = fetcher.fetch(file, tmp_path)
    assert (tmp_path / "tiny.ckpt").read_bytes() == VAE
    assert got.fetched_bytes == len(VAE)
    (api,) = gets(hub, "/api/download/")
    (storage,) = gets(hub, "/storage/")
    assert api["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in storage
    assert TOKEN not in repr(file)


def test_fetch_all_returns_results_in_order(hub: FakeHub, tmp_path: Path) -> None:
    files = [
        remote(hub, WEIGHTS_NAME, WEIGHTS),
        remote(hub, CONFIG_NAME, CONFIG),
        remote(hub, VAE_NAME, VAE),
    ]
    with Fetcher() as fetcher:
        got = fetcher.fetch_all(files, tmp_path, concurrency=2)
    assert [g.name for g in got] == [WEIGHTS_NAME, CONFIG_NAME, VAE_NAME]
    assert [g.path.read_bytes() for g in got] == [WEIGHTS, CONFIG, VAE]
    assert set(json.loads((tmp_path / MANIFEST_NAME).read_text())) == {
        WEIGHTS_NAME,
        CONFIG_NAME,
        VAE_NAME,
    }


def test_fetch_all_stops_starting_files_after_a_failure(
    hub: FakeHub, tmp_path: Path, fetcher: Fetcher
) -> None:
    files = [
        RemoteFile(hub.hf_url(REPO, "nope.json"), "nope.json"),
        remote(hub, CONFIG_NAME, CONFIG),
        remote(hub, VAE_NAME, VAE),
    ]
    with pytest.raises(RemoteNotFound):
        fetcher.fetch_all(files, tmp_path, concurrency=1)
    assert [p for _, p, _ in hub.requests] == [f"/{REPO}/resolve/main/nope.json"]
    with pytest.raises(UnsafePath, match="twice"):
        fetcher.fetch_all([files[1], files[1]], tmp_path)


def test_a_server_ignoring_range_is_read_from_the_start(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Range"))
        return httpx.Response(200, content=VAE)

    (tmp_path / "vae.bin.part").write_bytes(b"x" * 1000)  # would corrupt the file if kept
    with Fetcher(client=httpx.Client(transport=httpx.MockTransport(handler))) as fetcher:
        got = fetcher.fetch(RemoteFile("http://test/vae.bin", "vae.bin", sha256=sha(VAE)), tmp_path)
    assert seen == ["bytes=1000-"]
    assert (got.resumed_from, got.fetched_bytes, got.size) == (0, len(VAE), len(VAE))


def test_a_range_answered_from_elsewhere_restarts_once(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Range"))
        if "Range" in request.headers:  # a server that always sends the file from byte 0
            headers = {"Content-Range": f"bytes 0-{len(VAE) - 1}/{len(VAE)}"}
            return httpx.Response(206, headers=headers, content=VAE)
        return httpx.Response(200, content=VAE)

    (tmp_path / "vae.bin.part").write_bytes(VAE[:1000])
    with Fetcher(client=httpx.Client(transport=httpx.MockTransport(handler))) as fetcher:
        got = fetcher.fetch(RemoteFile("http://test/vae.bin", "vae.bin", len(VAE)), tmp_path)
    assert seen == ["bytes=1000-", None]
    assert (got.resumed_from, got.sha256) == (0, sha(VAE))


def test_more_bytes_than_expected_stop_the_transfer(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # No Content-Length: only counting what arrives can tell.
        return httpx.Response(200, content=iter([VAE[:200_000], VAE[200_000:]]))

    with (
        Fetcher(client=httpx.Client(transport=httpx.MockTransport(handler))) as fetcher,
        pytest.raises(IntegrityError, match="more than"),
    ):
        fetcher.fetch(RemoteFile("http://test/vae.bin", "vae.bin", 250_000), tmp_path)
    assert list(tmp_path.iterdir()) == []


CHILD = """
import sys
from pathlib import Path
from dreamforge_adapters.model_sources.fetch import Fetcher, RemoteFile
url, folder, size, sha256 = sys.argv[1:]
file = RemoteFile(url, "big.safetensors", int(size), sha256)
Fetcher(chunk_bytes=256 * 1024).fetch(file, Path(folder))
"""


def test_a_sigkilled_download_resumes_where_the_disk_says(hub: FakeHub, tmp_path: Path) -> None:
    # A repeating block is quick to make; its odd length still exposes any misplaced chunk.
    big = (random.Random(3).randbytes(1_000_003) * 68)[: 64 * 1024 * 1024]
    hub.add_hf_repo("org/big", {"big.safetensors": big})
    url = hub.hf_url("org/big", "big.safetensors")
    part = tmp_path / "big.safetensors.part"
    hub.throttle(8_000_000)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(tmp_path), str(len(big)), sha(big)], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 10
        while not (part.exists() and part.stat().st_size > 4 * 1024 * 1024):
            assert child.poll() is None, "the child ended before it was killed"
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "big.safetensors").exists()
    hub.throttle(None)
    n = part.stat().st_size

    with Fetcher() as fetcher:
        got = fetcher.fetch(RemoteFile(url, "big.safetensors", len(big), sha(big)), tmp_path)

    assert hub.range_starts("big.safetensors") == [n]
    assert n >= 4 * 1024 * 1024
    assert (got.resumed_from, got.fetched_bytes) == (n, len(big) - n)
    assert got.sha256 == sha(big)
    assert (tmp_path / "big.safetensors").read_bytes() == big
    assert not part.exists()
