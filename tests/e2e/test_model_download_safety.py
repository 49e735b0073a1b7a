"""What `dreamforge model download` refuses, end to end against the local fake hub: replacing
an installed model without `--replace`, files named like the installer's own, downloads past
the disk budget, unsafe revisions. Each refusal changes nothing and says why."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_model_download import Cli
from tests.support.fake_hub import CivitaiFile, FakeHub

pytestmark = pytest.mark.embedded_only


@pytest.fixture
def cli(tmp_path: Path, hub: FakeHub) -> Iterator[Cli]:
    hub.reset_faults()
    yield Cli(tmp_path / "data", hub)
    hub.reset_faults()


def listed(cli: Cli) -> dict[str, list[str]]:
    """`model list --all` by id: kind, version, state, short hash, path."""
    out = cli.run("model", "list", "--all")
    assert out.returncode == 0, out.stderr
    return {cells[0]: cells[1:] for line in out.stdout.splitlines() for cells in [line.split("\t")]}


def download(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs a download that must succeed; its stdout."""
    done = cli.run("model", "download", *args, "--no-base-config", env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs a download that must fail cleanly; its stderr."""
    done = cli.run("model", "download", *args, "--no-base-config", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def weights_files(cli: Cli) -> dict[str, bytes]:
    models = cli.data_dir / "models"
    return {p.relative_to(models).as_posix(): p.read_bytes() for p in models.rglob("*.safetensors")}


def test_another_hf_revision_replaces_an_installed_model_only_with_replace(
    cli: Cli, hub: FakeHub
) -> None:
    first = hub.add_hf_repo("safety/revisions", {"model.safetensors": b"first " * 500})
    download(cli, "hf:safety/revisions")
    model_id = "safety--revisions"
    before = listed(cli)[model_id]
    assert before[1] == first[:12]
    files_before = weights_files(cli)

    second = hub.add_hf_repo(
        "safety/revisions", {"model.safetensors": b"second " * 500}, revision_name="v2"
    )
    why = refused(cli, "hf:safety/revisions@v2")
    assert "model_conflict" in why
    assert model_id in why
    assert "--replace" in why
    assert first[:12] in why
    assert second[:12] in why
    assert listed(cli)[model_id] == before
    assert weights_files(cli) == files_before  # nothing fetched for the refused revision

    out = download(cli, "hf:safety/revisions@v2", "--replace")
    assert "replaced" in out
    after = listed(cli)[model_id]
    assert after[1] == second[:12]
    assert after[2] == "installed"
    # The same revision again is idempotent: no --replace needed, nothing fetched.
    again = download(cli, "hf:safety/revisions@v2")
    assert " 0 bytes fetched" in again
    assert listed(cli)[model_id] == after


def test_a_new_civitai_version_installs_beside_the_old_one(cli: Cli, hub: FakeHub) -> None:
    v1 = {"id": 4102, "name": "v1", "files": [CivitaiFile(41, "side.safetensors", b"1" * 900)]}
    hub.add_civitai_model(4101, "Side By Side", [v1])
    download(cli, "civitai:4101")
    v2 = {"id": 4103, "name": "v2", "files": [CivitaiFile(42, "side.safetensors", b"2" * 900)]}
    hub.add_civitai_model(4101, "Side By Side", [v2, v1])
    before = listed(cli)["side-by-side-v4102"]
    download(cli, "civitai:4101")
    models = listed(cli)
    assert models["side-by-side-v4102"] == before
    assert models["side-by-side-v4103"][2] == "installed"


def test_changed_bytes_behind_an_installed_civitai_version_need_replace(
    cli: Cli, hub: FakeHub
) -> None:
    old, new = b"old weights " * 100, b"new weights " * 100
    version = {"id": 4202, "name": "v1", "files": [CivitaiFile(43, "swap.safetensors", old)]}
    hub.add_civitai_model(4201, "Swap", [version])
    download(cli, "civitai:4201")
    version["files"] = [CivitaiFile(43, "swap.safetensors", new)]
    hub.add_civitai_model(4201, "Swap", [version])

    why = refused(cli, "civitai:4201@4202")
    assert "model_conflict" in why
    assert "swap-v4202" in why
    assert "--replace" in why
    assert list(weights_files(cli).values()) == [old]
    assert listed(cli)["swap-v4202"][3] == hashlib.sha256(old).hexdigest()[:10]

    download(cli, "civitai:4201@4202", "--replace")
    assert list(weights_files(cli).values()) == [new]
    assert listed(cli)["swap-v4202"][3] == hashlib.sha256(new).hexdigest()[:10]


@pytest.mark.parametrize("name", ["dreamforge-model.json", "unet/.dreamforge-files.json"])
def test_a_file_named_like_the_installers_own_is_refused(cli: Cli, hub: FakeHub, name: str) -> None:
    repo = f"safety/clobber-{'descriptor' if 'model' in name else 'manifest'}"
    hub.add_hf_repo(repo, {"model.safetensors": b"w" * 300, name: b'{"id": "evil"}'})
    why = refused(cli, f"hf:{repo}#*")
    assert "invalid_input" in why
    assert "reserved" in why
    assert name in why
    assert "safety--clobber" not in " ".join(listed(cli))
    assert not list((cli.data_dir / "models").rglob("model.safetensors*"))


@pytest.mark.parametrize("source", ["hf", "civitai"])
def test_a_download_past_the_disk_budget_is_refused_before_any_byte(
    cli: Cli, hub: FakeHub, source: str
) -> None:
    size, budget = 300_000, 200_000
    hub.add_hf_repo("safety/too-big", {"big.safetensors": b"b" * size})
    big = [CivitaiFile(44, "too-big.safetensors", b"c" * size)]
    hub.add_civitai_model(4301, "Too Big", [{"id": 4302, "name": "v1", "files": big}])
    ref = "hf:safety/too-big" if source == "hf" else "civitai:4301"
    sent_before = dict(hub.bytes_sent)

    why = refused(cli, ref, env={"DREAMFORGE_MODELS_MAX_BYTES": str(budget)})
    assert "insufficient_storage" in why
    assert str(size) in why
    assert str(budget) in why
    assert "DREAMFORGE_MODELS_MAX_BYTES" in why
    assert dict(hub.bytes_sent) == sent_before  # not one byte of the file was sent
    assert not list((cli.data_dir / "models").rglob("*.part"))
    assert "too-big" not in " ".join(listed(cli))

    download(cli, ref, env={"DREAMFORGE_MODELS_MAX_BYTES": str(10 * size)})


@pytest.mark.parametrize(
    "revision", ["../../etc", "/main", "a//b", "refs/../main", "ma in", "a?b=1", "x" * 300]
)
def test_an_unsafe_revision_is_refused_before_asking_the_hub(
    cli: Cli, hub: FakeHub, revision: str
) -> None:
    asked = len(hub.requests)
    why = refused(cli, f"hf:safety/revisions@{revision}")
    assert "invalid_input" in why
    assert "revision" in why
    assert len(hub.requests) == asked
