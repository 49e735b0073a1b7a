"""The downloader's guards against a real HTTP server on loopback (the fake Hub/CivitAI):
redirects to addresses the endpoint may not lead to, bodies longer than the source stated,
partial files left behind by failed or abandoned downloads, the bytes already on disk.

A non-loopback endpoint cannot be had in a test, so the source gets a resolver that reports
the fake hub's name, `localhost`, as a public address: the hub is then "public" and every
loopback, private or link-local target of a redirect must be refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamforge_adapters.model_sources.address_guard import system_resolver
from dreamforge_adapters.model_sources.disk_space import LocalDiskSpace
from dreamforge_adapters.model_sources.fetch import Fetcher, IntegrityError, RemoteFile
from dreamforge_adapters.model_sources.hf import HfSource
from dreamforge_adapters.model_sources.part_file import remove_abandoned_parts, remove_part_files
from dreamforge_core.domain.addresses import address_kind
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.errors import Forbidden
from tests.support.fake_hub import FakeHub

REPO = "org/redirected"
WEIGHTS = os.urandom(200_000)
PUBLIC = "93.184.215.14"  # any global address: only its kind matters


def no_sleep(_: float) -> None:
    pass


def resolver_calling_localhost_public(host: str, port: int) -> list[str]:
    return [PUBLIC] if host == "localhost" else system_resolver(host, port)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_hf_repo(REPO, {"model.safetensors": WEIGHTS})
        yield server


def public_source(hub: FakeHub) -> HfSource:
    """A source whose endpoint counts as public (see the module docstring)."""
    return HfSource(
        f"http://localhost:{hub.port}",
        resolver=resolver_calling_localhost_public,
        attempts=1,
        timeout_s=2,
        sleep=no_sleep,
    )


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("http://127.0.0.1:{port}/{repo}/resolve/main/model.safetensors", "loopback"),
        ("http://[::1]:{port}/{repo}/resolve/main/model.safetensors", "loopback"),
        ("http://0.0.0.0:{port}/{repo}/resolve/main/model.safetensors", "loopback"),
        ("http://10.1.2.3/model.safetensors", "private"),
        ("http://192.168.0.10:8080/model.safetensors", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "link-local"),
    ],
)
def test_a_file_redirect_from_a_public_endpoint_to_a_non_public_address_is_refused(
    hub: FakeHub, tmp_path: Path, target: str, kind: str
) -> None:
    with public_source(hub) as source:
        model = source.resolve(parse_model_ref(f"hf:{REPO}"))
        hub.redirect_next("/resolve/", target.format(port=hub.port, repo=REPO))
        with pytest.raises(Forbidden, match=rf"{kind} address"):
            source.fetch(model, tmp_path)
    assert list(tmp_path.rglob("*")) == []
    assert hub.bytes_sent[f"{REPO}/model.safetensors"] == 0


def test_an_api_redirect_to_the_metadata_service_is_refused(hub: FakeHub) -> None:
    hub.redirect_next("/api/models/", "http://169.254.169.254/latest/meta-data/")
    with public_source(hub) as source, pytest.raises(Forbidden, match=r"169\.254\.169\.254"):
        source.resolve(parse_model_ref(f"hf:{REPO}"))


def test_redirects_within_the_endpoints_own_host_are_followed(hub: FakeHub, tmp_path: Path) -> None:
    with public_source(hub) as source:
        model = source.resolve(parse_model_ref(f"hf:{REPO}"))
        own = f"/{REPO}/resolve/main/model.safetensors"
        hub.redirect_next("/resolve/", f"http://localhost:{hub.port}{own}")
        hub.redirect_next("/resolve/", own)  # and a relative one
        [got] = source.fetch(model, tmp_path)
    assert got.sha256 == hashlib.sha256(WEIGHTS).hexdigest()


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("http://127.0.0.1:{port}/{repo}/resolve/main/model.safetensors", True),
        ("http://10.1.2.3/model.safetensors", False),
        ("http://169.254.169.254/latest/meta-data/", False),
    ],
)
def test_a_loopback_endpoint_may_lead_to_loopback_only(
    hub: FakeHub, tmp_path: Path, target: str, allowed: bool
) -> None:
    with HfSource(hub.url, attempts=1, timeout_s=2, sleep=no_sleep) as source:
        model = source.resolve(parse_model_ref(f"hf:{REPO}"))
        hub.redirect_next("/resolve/", target.format(port=hub.port, repo=REPO))
        if allowed:
            assert source.fetch(model, tmp_path)[0].size == len(WEIGHTS)
        else:
            with pytest.raises(Forbidden):
                source.fetch(model, tmp_path)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.53", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "loopback"),
        ("::", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("100.64.0.1", "private"),
        ("fd00:ec2::254", "private"),
        ("224.0.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


def test_a_body_longer_than_the_stated_approximate_size_is_cut_off(
    hub: FakeHub, tmp_path: Path
) -> None:
    bounded = RemoteFile(hub.hf_url(REPO, "model.safetensors"), "model.safetensors", max_size=1000)
    with Fetcher(sleep=no_sleep) as fetcher, pytest.raises(IntegrityError, match="1000"):
        fetcher.fetch(bounded, tmp_path)
    assert list(tmp_path.rglob("*.part")) == []


def _part(path: Path, age_s: float, data: bytes = b"partial") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_abandoned_part_files_go_and_recent_or_locked_ones_stay(tmp_path: Path) -> None:
    old = _part(tmp_path / "sdxl-checkpoint" / "a@1" / "model.safetensors.part", 7200)
    nested = _part(tmp_path / "sdxl-diffusers" / "b@1" / "unet" / "w.safetensors.part", 7200)
    recent = _part(tmp_path / "sdxl-checkpoint" / "c@1" / "model.safetensors.part", 10)
    locked = _part(tmp_path / "sdxl-checkpoint" / "d@1" / "model.safetensors.part", 7200)
    weights = _part(tmp_path / "sdxl-checkpoint" / "a@1" / "model.safetensors", 7200)
    with locked.open("r+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a download writing it
        removed = remove_abandoned_parts(tmp_path, older_than_s=3600)
    assert sorted(removed) == sorted([old, nested])
    assert [p.exists() for p in (old, nested, recent, locked, weights)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert remove_abandoned_parts(tmp_path / "absent", older_than_s=1) == []


def test_a_failed_downloads_part_files_go_whatever_their_age(tmp_path: Path) -> None:
    folder = tmp_path / "sdxl-diffusers" / "m@1"
    parts = [_part(folder / "a.safetensors.part", 0), _part(folder / "unet" / "b.json.part", 0)]
    kept = _part(folder / "a.safetensors", 0)
    assert sorted(remove_part_files(folder)) == sorted(parts)
    assert kept.exists()
    assert remove_part_files(tmp_path / "absent") == []


def test_bytes_held_count_complete_and_partial_files(tmp_path: Path) -> None:
    _part(tmp_path / "done.safetensors", 0, b"x" * 100)
    _part(tmp_path / "unet" / "half.safetensors.part", 0, b"x" * 40)
    disk = LocalDiskSpace()
    held = disk.held(tmp_path, ["done.safetensors", "unet/half.safetensors", "none.json"])
    assert held == {"done.safetensors": 100, "unet/half.safetensors": 40, "none.json": 0}
    assert disk.used_bytes(tmp_path) == 140
    assert disk.used_bytes(tmp_path / "absent") == 0
    total, free = disk.filesystem(tmp_path / "absent" / "deeper")
    assert total >= free > 0
