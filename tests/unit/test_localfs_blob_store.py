"""The local blob store's failures and durability: a fault no retry can cure is a permanent
storage error (the job fails at once), others stay retryable; a blob is on disk, file and
directory entry, before `put` returns (so before its artifact row is committed)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from dreamforge_adapters.localfs import LocalBlobStore
from dreamforge_core.errors import PermanentStorageError, StorageError

KEY = "dreamforge/alice/jobs/j1/generate/0.png"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def store_whose_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> LocalBlobStore:
    """A store whose final rename into place raises OSError `code`."""
    store = LocalBlobStore(tmp_path / "blobs", b"key")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", fail)
    return store


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR]
)
def test_a_fault_no_retry_can_cure_is_permanent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = store_whose_rename_fails(tmp_path, monkeypatch, code)
    with pytest.raises(PermanentStorageError, match=os.strerror(code)) as failure:
        store.put(KEY, PNG, "image/png")
    assert failure.value.code == "storage_error"
    assert failure.value.permanent
    assert store.list_keys("dreamforge/") == []  # no temporary file is left behind


@pytest.mark.parametrize("code", [errno.EIO, errno.EAGAIN, errno.EINTR])
def test_other_faults_stay_retryable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = store_whose_rename_fails(tmp_path, monkeypatch, code)
    with pytest.raises(StorageError) as failure:
        store.put(KEY, PNG, "image/png")
    assert not failure.value.permanent


def test_a_blob_directory_that_became_a_file_is_permanent(tmp_path: Path) -> None:
    """What the end-to-end test does to a running server; file modes would not stop root."""
    root = tmp_path / "blobs"
    store = LocalBlobStore(root, b"key")
    root.rmdir()
    root.write_bytes(b"")
    with pytest.raises(PermanentStorageError):
        store.put(KEY, PNG, "image/png")


def test_put_syncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path / "blobs", b"key")
    seen: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        seen.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        seen.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store.put(KEY, PNG, "image/png")

    assert seen[:3] == ["fsync file", "rename", "fsync dir"]
    # the directories made for the key are recorded in their parents too
    assert seen[3:] == ["fsync dir"] * len(Path(KEY).parts[:-1])
    assert (tmp_path / "blobs" / KEY).read_bytes() == PNG

    seen.clear()
    store.put(KEY, PNG, "image/png")  # the directories exist now: one sync of the folder
    assert seen == ["fsync file", "rename", "fsync dir"]


def test_a_file_in_place_of_the_blob_directory_is_permanent(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root, b"key")
    (root / "dreamforge").write_bytes(b"")  # a file where a key's folder must go
    with pytest.raises(PermanentStorageError):
        store.put(KEY, PNG, "image/png")


def test_a_removed_blob_directory_is_made_again(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root, b"key")
    root.rmdir()
    store.put(KEY, PNG, "image/png")
    assert store.list_keys("dreamforge/") == [KEY]
