"""Fetches remote files into a model folder: resumable, retried, verified and safe to kill.

Bytes arrive in `<target>.part`, flushed as they come, so a crash or SIGKILL leaves a partial
file that the next run hashes once and resumes with `Range`. The target path only ever receives
a file whose size and sha256 were checked (one `os.replace`), and `.dreamforge-files.json` in
the folder records what was verified, so a second run skips multi-gigabyte files by `stat`
alone instead of hashing them again.

Credentials travel in `RemoteFile.headers` and nowhere else: messages and logs show URLs without
their query string (CivitAI takes `?token=`, presigned storage URLs carry signatures).
"""

from __future__ import annotations

import email.utils
import enum
import hashlib
import json
import logging
import os
import random
import re
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlsplit

import httpx

from dreamforge_core.errors import DreamForgeError
from dreamforge_core.ports.model_source import FetchedFile
from dreamforge_core.use_cases.model_files import sha256_of

if sys.platform != "win32":
    import fcntl

log = logging.getLogger(__name__)

MANIFEST_NAME = ".dreamforge-files.json"
PART_SUFFIX = ".part"

ProgressCallback = Callable[[str, int, int | None], None]
"""(file name, bytes done including resumed ones, total or None); called from worker threads
by `fetch_all`, about ten times a second per file and once more when the file is complete."""

# 408 is a timeout the server admits to; the rest are the usual "try again later" answers.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_PROGRESS_INTERVAL_S = 0.1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)
# One lock for every manifest in the process: fetch_all's threads update the same file.
_manifest_lock = threading.Lock()


class FetchError(DreamForgeError):
    """Raised when a file cannot be downloaded; the message names the file, never a token."""

    code = "download_failed"


class IntegrityError(FetchError):
    """Raised when the bytes received do not have the expected size or sha256."""

    code = "integrity"


class AccessDenied(FetchError):
    """Raised on 401/403: the source wants a token, or a different one."""

    code = "unauthorized"


class RemoteNotFound(FetchError):
    """Raised on 404: the repository, revision or file does not exist (or is hidden)."""

    code = "not_found"


class UnsafePath(FetchError):
    """Raised when a file name would land outside the model folder or cannot be stored."""

    code = "invalid_input"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file to fetch, as a source adapter resolved it."""

    url: str
    name: str  # path relative to the model folder, "/"-separated, e.g. "unet/config.json"
    size: int | None = None  # bytes, when the source states it
    sha256: str | None = None  # lower-case hex, when the source states it
    # e.g. Authorization: kept out of repr, equality and hashing so it cannot leak into logs.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256_HEX.fullmatch(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lower-case hex digits")
        if self.size is not None and self.size < 0:
            raise ValueError(f"{self.name}: size must not be negative")


def safe_target(folder: Path, name: str) -> Path:
    """`folder/name`, or UnsafePath when `name` could point anywhere else.

    Names come from remote listings, so they are untrusted: only plain "/"-separated relative
    paths pass, and the result must still be inside `folder` once symlinks are resolved.
    """
    problem = _name_problem(name)
    if problem is None:
        target = folder.joinpath(*name.split("/"))
        try:
            root = folder.resolve()
            resolved = target.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            problem = "cannot be resolved"
        else:
            if resolved == root or not resolved.is_relative_to(root):
                problem = "leads outside the model folder"
            else:
                return target
    raise UnsafePath(f"unsafe file name {name!r}: {problem}", details={"file": name})


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty"
    if "\0" in name:
        return "contains NUL"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is absolute"
    segments = name.split("/")
    if _DRIVE.match(segments[0]):
        return "starts with a drive letter"
    if "" in segments:
        return "has an empty segment"
    if "." in segments or ".." in segments:
        return "has a '.' or '..' segment"
    return None


class Fetcher:
    """Downloads `RemoteFile`s into a model folder; one instance may serve many threads."""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        chunk_bytes: int = 1 << 20,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 30.0,
        progress: ProgressCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chunk_bytes < 1 or attempts < 1:
            raise ValueError("chunk_bytes and attempts must be at least 1")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()
        self._chunk_bytes = chunk_bytes
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        # A read timeout bounds silence between bytes, not the whole transfer.
        self._timeout = httpx.Timeout(timeout_s)
        self._progress = progress
        self._sleep = sleep

    def close(self) -> None:
        """Closes the HTTP client if this fetcher created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch(self, file: RemoteFile, folder: Path) -> FetchedFile:
        """Makes `folder/file.name` hold the verified file, downloading only what is missing."""
        return self._fetch(file, folder, None)

    def fetch_all(
        self, files: Sequence[RemoteFile], folder: Path, *, concurrency: int = 4
    ) -> list[FetchedFile]:
        """Fetches `files` with up to `concurrency` threads; results in the order of `files`.

        The first failure cancels the files not yet started and is raised once the running ones
        have ended (their `.part` files stay resumable). An interrupt (Ctrl-C) also stops the
        running transfers at their next chunk.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        names = [f.name for f in files]
        for file in files:
            safe_target(folder, file.name)  # refuse the whole list before fetching any of it
        seen = set(names)
        if len(seen) < len(names):
            raise UnsafePath("the same file name is listed twice", details={"files": names})
        for name in names:
            if name + PART_SUFFIX in seen or name == MANIFEST_NAME:
                raise UnsafePath(f"file name {name!r} collides with a download's own files")
        if not files:
            return []
        failed = threading.Event()  # set by the first failure: no further file starts
        cancel = threading.Event()  # set on an interrupt: running transfers stop too

        def run(file: RemoteFile) -> FetchedFile:
            # A free worker takes the next file before this thread can cancel it: check here.
            if failed.is_set():
                raise _NotStarted
            try:
                return self._fetch(file, folder, cancel)
            except BaseException:
                failed.set()
                raise

        results: dict[int, FetchedFile] = {}
        first: BaseException | None = None
        with ThreadPoolExecutor(
            max_workers=min(concurrency, len(files)), thread_name_prefix="model-fetch"
        ) as pool:
            futures = {pool.submit(run, file): i for i, file in enumerate(files)}
            try:
                for future in as_completed(futures):  # ends once running ones have ended
                    if future.cancelled():
                        continue
                    error = future.exception()
                    if error is None:
                        results[futures[future]] = future.result()
                    elif first is None and not isinstance(error, _NotStarted):
                        first = error
                        for other in futures:
                            other.cancel()  # only those not started yet
            except BaseException:  # an interrupt: do not wait for gigabytes
                failed.set()
                cancel.set()
                for other in futures:
                    other.cancel()
                raise
        if first is not None:
            raise first
        return [results[i] for i in range(len(files))]

    # --- one file -----------------------------------------------------------------------------

    def _fetch(self, file: RemoteFile, folder: Path, cancel: threading.Event | None) -> FetchedFile:
        target = safe_target(folder, file.name)
        if file.name == MANIFEST_NAME:
            raise UnsafePath(f"file name {file.name!r} is reserved", details={"file": file.name})
        try:
            done = self._already_verified(file, folder, target)
            if done is None:
                target.parent.mkdir(parents=True, exist_ok=True)
                done = self._download(file, folder, target, cancel)
        except OSError as exc:
            raise FetchError(
                f"could not write {file.name} in {folder}: {exc.strerror or exc}",
                details={"file": file.name},
            ) from exc
        self._report(file.name, done.size, done.size)
        return done

    def _already_verified(self, file: RemoteFile, folder: Path, target: Path) -> FetchedFile | None:
        try:
            st = target.stat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode) or (file.size is not None and st.st_size != file.size):
            return None
        entry = _read_manifest(folder).get(file.name)
        if (
            entry is not None
            and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns)
            and file.sha256 in (None, entry.sha256)
        ):
            return FetchedFile(file.name, target, entry.size, entry.sha256, True, 0, 0)
        # No (matching) record, e.g. killed between the rename and the manifest update, or
        # copied in by hand: reading it locally is far cheaper than downloading it again.
        if file.sha256 is None:
            return None
        digest = sha256_of(target)
        if digest != file.sha256:
            return None
        _record(folder, file.name, _Entry(st.st_size, digest, st.st_mtime_ns))
        return FetchedFile(file.name, target, st.st_size, digest, True, 0, 0)

    def _download(
        self, file: RemoteFile, folder: Path, target: Path, cancel: threading.Event | None
    ) -> FetchedFile:
        part_path = target.with_name(target.name + PART_SUFFIX)
        fd = os.open(part_path, os.O_RDWR | os.O_CREAT, 0o666)
        with os.fdopen(fd, "r+b") as fh:
            _lock_or_fail(fh, file.name)
            part = _Part(fh)
            part.load(self._chunk_bytes)
            if file.size is not None and part.size > file.size:
                part.reset()  # longer than the file can be: it is something else
            part.resumed_from = part.size
            if part.size:
                log.info("resuming %s from byte %d", file.name, part.size)
            try:
                self._transfer(file, part, cancel)
                _verify(file, part)
            except IntegrityError:
                part_path.unlink(missing_ok=True)  # wrong bytes are no use to resume from
                raise
            fh.flush()
            os.fsync(fh.fileno())
            # POSIX renames an open file: the lock is held until the target is in place.
            os.replace(part_path, target)
        _fsync_dir(target.parent)
        sha256 = part.hasher.hexdigest()
        _record(folder, file.name, _Entry(part.size, sha256, target.stat().st_mtime_ns))
        return FetchedFile(
            file.name, target, part.size, sha256, False, part.resumed_from, part.fetched
        )

    def _transfer(self, file: RemoteFile, part: _Part, cancel: threading.Event | None) -> None:
        """Requests until the part holds the whole file; retries what is worth retrying."""
        failures = 0
        while True:
            ranged = part.size > 0
            headers = {**file.headers, "Accept-Encoding": "identity"}  # ranges of raw bytes
            if ranged:
                headers["Range"] = f"bytes={part.size}-"
            retry: _Retry
            try:
                # httpx drops Authorization when a redirect leaves the origin (CivitAI sends
                # downloads to presigned storage URLs, which must not see the token).
                with self._client.stream(
                    "GET", file.url, headers=headers, follow_redirects=True, timeout=self._timeout
                ) as response:
                    outcome = self._receive(file, part, response, ranged, cancel)
            except _Retry as exc:
                retry = exc
            except (
                httpx.TimeoutException,
                httpx.NetworkError,
                httpx.RemoteProtocolError,
                httpx.ProxyError,
            ) as exc:
                retry = _Retry(_describe(exc))
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # bad scheme, redirect loop, ...
                raise FetchError(
                    f"could not download {file.name} from {display_url(file.url)}: "
                    f"{_describe(exc)}",
                    details={"file": file.name},
                ) from exc
            else:
                if outcome is _Outcome.DONE:
                    return
                # The server answered the range with something else: start from byte 0. This
                # costs no attempt; it cannot repeat without a failed transfer in between.
                log.warning(
                    "%s: the server did not resume at %d; starting over", file.name, part.size
                )
                part.reset()
                continue
            failures += 1
            if failures >= self._attempts:
                raise FetchError(
                    f"could not download {file.name} from {display_url(file.url)} after "
                    f"{failures} attempts: {retry.cause}",
                    details={"file": file.name, "attempts": failures},
                )
            delay = min(self._max_backoff_s, self._backoff_s * 2 ** (failures - 1))
            delay *= random.uniform(0.5, 1.0)  # spread out clients that failed together
            if retry.retry_after is not None:
                delay = min(retry.retry_after, self._max_backoff_s)
            log.warning(
                "%s: %s; retrying in %.1f s (attempt %d of %d)",
                file.name,
                retry.cause,
                delay,
                failures + 1,
                self._attempts,
            )
            self._sleep(delay)

    def _receive(
        self,
        file: RemoteFile,
        part: _Part,
        response: httpx.Response,
        ranged: bool,
        cancel: threading.Event | None,
    ) -> _Outcome:
        status = response.status_code
        where = f"HTTP {status} from {display_url(str(response.url))}"
        details: dict[str, Any] = {"file": file.name, "status": status}
        if status in (401, 403):
            raise AccessDenied(f"access to {file.name} denied: {where}", details=details)
        if status == 404:
            raise RemoteNotFound(f"{file.name} not found: {where}", details=details)
        if status in RETRY_STATUSES:
            raise _Retry(where, retry_after_s(response.headers.get("Retry-After")))
        if status == 416 and ranged:
            # Nothing left past our length: the part is complete if it has the full size.
            span = _content_range(response.headers.get("Content-Range"))
            expected = file.size if file.size is not None else span.total if span else None
            if expected is not None and part.size == expected:
                return _Outcome.DONE
            return _Outcome.RESTART
        if status == 200:
            if part.size:
                log.warning("%s: the server ignored Range; starting over", file.name)
                part.reset()
            total = _content_length(response)
        elif status == 206:
            span = _content_range(response.headers.get("Content-Range"))
            if span is None or span.start != part.size:
                if not ranged:  # nothing asked for a part: no retry can fix this answer
                    raise FetchError(f"{file.name}: unexpected partial content, {where}")
                return _Outcome.RESTART
            total = span.total
        else:
            raise FetchError(f"could not download {file.name}: {where}", details=details)
        if total is not None and file.size is not None and total != file.size:
            raise IntegrityError(
                f"{file.name}: the server has {total} bytes, expected {file.size}",
                details={**details, "expected_size": file.size, "actual_size": total},
            )
        self._stream(file, part, response, file.size if file.size is not None else total, cancel)
        return _Outcome.DONE

    def _stream(
        self,
        file: RemoteFile,
        part: _Part,
        response: httpx.Response,
        total: int | None,
        cancel: threading.Event | None,
    ) -> None:
        # iter_bytes() without a size yields what the socket gave; batching here rather than in
        # httpx keeps the bytes received before a dropped connection, so the retry resumes
        # exactly where the data stopped.
        buffer = bytearray()
        try:
            for piece in response.iter_bytes():
                part.fetched += len(piece)
                if total is not None and part.size + len(buffer) + len(piece) > total:
                    raise IntegrityError(
                        f"{file.name}: the server sent more than the expected {total} bytes",
                        details={"file": file.name, "expected_size": total},
                    )
                buffer += piece
                if len(buffer) >= self._chunk_bytes:
                    self._write(file.name, part, buffer, total)
                    buffer.clear()
                if cancel is not None and cancel.is_set():
                    raise FetchError(f"download of {file.name} cancelled")
        except IntegrityError:
            raise  # the part is deleted: no point keeping the rest
        except (httpx.TransportError, FetchError):
            self._write(file.name, part, buffer, total)  # resume after what did arrive
            raise
        self._write(file.name, part, buffer, total)
        if total is not None and part.size < total:
            raise _Retry(f"the connection ended at byte {part.size} of {total}")

    def _write(self, name: str, part: _Part, data: bytearray, total: int | None) -> None:
        if not data:
            return
        part.fh.write(data)
        part.fh.flush()  # to the OS: a SIGKILL from here on loses nothing written
        part.hasher.update(data)
        part.size += len(data)
        now = time.monotonic()
        if now - part.reported_at >= _PROGRESS_INTERVAL_S:
            part.reported_at = now
            self._report(name, part.size, total)

    def _report(self, name: str, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress(name, done, total)


# --- the part file ---------------------------------------------------------------------------


class _Outcome(enum.Enum):
    DONE = enum.auto()
    RESTART = enum.auto()


class _NotStarted(Exception):
    """A file of `fetch_all` that was not started because another one failed."""


class _Retry(Exception):
    """A failure worth another attempt, resumed from the bytes already in the part file."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


class _Part:
    """The open `.part` file with its running sha256, so a retry never re-reads it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hasher = hashlib.sha256()
        self.size = 0
        self.resumed_from = 0
        self.fetched = 0
        self.reported_at = 0.0

    def load(self, chunk_bytes: int) -> None:
        """Hashes what an earlier run left; the file position ends up after it."""
        self.fh.seek(0)
        while block := self.fh.read(chunk_bytes):
            self.hasher.update(block)
            self.size += len(block)

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.hasher = hashlib.sha256()
        self.size = 0
        self.resumed_from = 0


def _verify(file: RemoteFile, part: _Part) -> None:
    details: dict[str, Any] = {"file": file.name}
    if file.size is not None and part.size != file.size:
        raise IntegrityError(
            f"{file.name}: received {part.size} bytes, expected {file.size}",
            details={**details, "expected_size": file.size, "actual_size": part.size},
        )
    digest = part.hasher.hexdigest()
    if file.sha256 is not None and digest != file.sha256:
        raise IntegrityError(
            f"{file.name}: sha256 mismatch, expected {file.sha256[:12]}…, got {digest[:12]}…",
            details={**details, "expected_sha256": file.sha256, "actual_sha256": digest},
        )


def _lock_or_fail(fh: BinaryIO, name: str) -> None:
    """Two processes appending to one part file would interleave bytes; the second one stops."""
    if sys.platform == "win32":
        return  # no advisory locks: one downloader per folder is up to the caller
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FetchError(
            f"{name} is being downloaded by another process", details={"file": name}
        ) from None


def _fsync_dir(path: Path) -> None:
    """Makes a rename durable; without it a power cut can undo the rename on some filesystems."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the manifest ----------------------------------------------------------------------------


class _Entry(NamedTuple):
    size: int
    sha256: str
    mtime_ns: int


def _read_manifest(folder: Path) -> dict[str, _Entry]:
    """The verified files by name; unreadable entries are ignored (they cost a re-check only)."""
    try:
        raw = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries: dict[str, _Entry] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            if (
                isinstance(value, dict)
                and isinstance(value.get("size"), int)
                and isinstance(value.get("mtime_ns"), int)
                and isinstance(value.get("sha256"), str)
            ):
                entries[name] = _Entry(value["size"], value["sha256"], value["mtime_ns"])
    return entries


def _record(folder: Path, name: str, entry: _Entry) -> None:
    """Adds one entry; a reader sees the old manifest or the new one, never half of one.

    The lock covers this process only: two processes finishing at once may lose an entry,
    which costs the next run one local hash of that file.
    """
    with _manifest_lock:
        manifest = {n: e._asdict() for n, e in _read_manifest(folder).items()}
        manifest[name] = entry._asdict()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=MANIFEST_NAME + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / MANIFEST_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# --- HTTP details ----------------------------------------------------------------------------


class _Span(NamedTuple):
    start: int | None
    total: int | None


def _content_range(value: str | None) -> _Span | None:
    """`bytes 10-19/100` or `bytes */100` (416); None when absent or malformed."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if match is None:
        return None
    start = int(match[1]) if match[1] is not None else None
    return _Span(start, int(match[3]) if match[3] != "*" else None)


def _content_length(response: httpx.Response) -> int | None:
    """The body size of a 200, when it is the file's size (not that of an encoded body)."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def display_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
