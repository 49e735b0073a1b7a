"""Fetches remote files into a model folder: resumable, retried, verified and safe to kill.

Bytes arrive in `<target>.part`, flushed as they come, so a crash or SIGKILL leaves a partial
file that the next run hashes once and resumes with `Range`. The target path only ever receives
a file whose size and sha256 were checked (one `os.replace`), and `.dreamforge-files.json` in
the folder records what was verified, so a second run skips multi-gigabyte files by `stat`
alone instead of hashing them again.

Redirects are followed one hop at a time, each host checked by the optional `AddressGuard`
before it is asked; a file without an exact size may not outgrow its `max_size`.

Credentials travel in `RemoteFile.headers` and nowhere else: messages and logs show URLs without
their query string (CivitAI takes `?token=`, presigned storage URLs carry signatures).

It is one module because resuming, retrying, verifying and the manifest's skip all act on one
part file during one transfer; its building blocks (part_file, manifest, http_details,
address_guard) are modules of their own.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import stat
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import httpx

from dreamforge_adapters.model_sources.address_guard import AddressGuard, guarded_get
from dreamforge_adapters.model_sources.http_details import (
    RETRY_STATUSES,
    HttpClientUser,
    content_length,
    content_range,
    describe_error,
    display_url,
    retry_after_s,
)
from dreamforge_adapters.model_sources.manifest import (
    MANIFEST_NAME,
    ManifestEntry,
    read_manifest,
    record_verified,
)
from dreamforge_adapters.model_sources.part_file import (
    PART_SUFFIX,
    Part,
    fsync_dir,
    lock_or_fail,
    verify_part,
)
from dreamforge_adapters.model_sources.remote_files import (
    AccessDenied,
    FetchError,
    IntegrityError,
    RemoteFile,
    RemoteNotFound,
    UnsafePath,
    safe_target,
)
from dreamforge_core.ports.model_source import FetchedFile
from dreamforge_core.use_cases.model_files import sha256_of

__all__ = [
    "MANIFEST_NAME",
    "PART_SUFFIX",
    "RETRY_STATUSES",
    "AccessDenied",
    "FetchError",
    "Fetcher",
    "IntegrityError",
    "ProgressCallback",
    "RemoteFile",
    "RemoteNotFound",
    "UnsafePath",
    "display_url",
    "retry_after_s",
    "safe_target",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int | None], None]
"""(file name, bytes done including resumed ones, total or None); called from worker threads
by `fetch_all`, about ten times a second per file and once more when the file is complete."""

_PROGRESS_INTERVAL_S = 0.1


class Fetcher(HttpClientUser):
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
        guard: AddressGuard | None = None,
    ) -> None:
        """`guard` checks the host of every request and redirect hop (none: any host)."""
        if chunk_bytes < 1 or attempts < 1:
            raise ValueError("chunk_bytes and attempts must be at least 1")
        super().__init__(client)
        self._guard = guard
        self._chunk_bytes = chunk_bytes
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        # A read timeout bounds silence between bytes, not the whole transfer.
        self._timeout = httpx.Timeout(timeout_s)
        self._progress = progress
        self._sleep = sleep

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
        _refuse_unsafe_names(files, folder)  # the whole list, before fetching any of it
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
        entry = read_manifest(folder).get(file.name)
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
        record_verified(folder, file.name, ManifestEntry(st.st_size, digest, st.st_mtime_ns))
        return FetchedFile(file.name, target, st.st_size, digest, True, 0, 0)

    def _download(
        self, file: RemoteFile, folder: Path, target: Path, cancel: threading.Event | None
    ) -> FetchedFile:
        part_path = target.with_name(target.name + PART_SUFFIX)
        fd = os.open(part_path, os.O_RDWR | os.O_CREAT, 0o666)
        with os.fdopen(fd, "r+b") as fh:
            lock_or_fail(fh, file.name)
            part = Part(fh)
            part.load(self._chunk_bytes)
            longest = file.size if file.size is not None else file.max_size
            if longest is not None and part.size > longest:
                part.reset()  # longer than the file can be: it is something else
            part.resumed_from = part.size
            if part.size:
                log.info("resuming %s from byte %d", file.name, part.size)
            try:
                self._transfer(file, part, cancel)
                verify_part(file, part)
            except IntegrityError:
                part_path.unlink(missing_ok=True)  # wrong bytes are no use to resume from
                raise
            except BaseException:
                if part.size == 0:  # nothing to resume from: leave nothing behind
                    part_path.unlink(missing_ok=True)
                raise
            fh.flush()
            os.fsync(fh.fileno())
            # POSIX renames an open file: the lock is held until the target is in place.
            os.replace(part_path, target)
        fsync_dir(target.parent)
        sha256 = part.hasher.hexdigest()
        record_verified(
            folder, file.name, ManifestEntry(part.size, sha256, target.stat().st_mtime_ns)
        )
        return FetchedFile(
            file.name, target, part.size, sha256, False, part.resumed_from, part.fetched
        )

    def _transfer(self, file: RemoteFile, part: Part, cancel: threading.Event | None) -> None:
        """Requests until the part holds the whole file; retries what is worth retrying."""
        failures = 0
        while True:
            outcome = self._attempt(file, part, cancel)
            if outcome is _Outcome.DONE:
                return
            if outcome is _Outcome.RESTART:
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
                    f"{failures} attempts: {outcome.cause}",
                    details={"file": file.name, "attempts": failures},
                )
            self._sleep(self._retry_delay(file, failures, outcome))

    def _attempt(
        self, file: RemoteFile, part: Part, cancel: threading.Event | None
    ) -> _Outcome | _Retry:
        """One request for the bytes the part lacks; a failure worth retrying is returned."""
        ranged = part.size > 0
        headers = {**file.headers, "Accept-Encoding": "identity"}  # ranges of raw bytes
        if ranged:
            headers["Range"] = f"bytes={part.size}-"
        try:
            # httpx drops Authorization when a redirect leaves the origin (CivitAI sends
            # downloads to presigned storage URLs, which must not see the token).
            with guarded_get(
                self._client,
                file.url,
                guard=self._guard,
                headers=headers,
                timeout=self._timeout,
            ) as response:
                return self._receive(file, part, response, ranged, cancel)
        except _Retry as exc:
            return exc
        except (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            httpx.ProxyError,
        ) as exc:
            return _Retry(describe_error(exc))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # bad scheme, redirect loop, ...
            raise FetchError(
                f"could not download {file.name} from {display_url(file.url)}: "
                f"{describe_error(exc)}",
                details={"file": file.name},
            ) from exc

    def _retry_delay(self, file: RemoteFile, failures: int, retry: _Retry) -> float:
        """Exponential back-off with jitter, or the server's Retry-After; logged."""
        delay: float = min(self._max_backoff_s, self._backoff_s * 2 ** (failures - 1))
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
        return delay

    def _receive(
        self,
        file: RemoteFile,
        part: Part,
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
            span = content_range(response.headers.get("Content-Range"))
            expected = file.size if file.size is not None else span.total if span else None
            if expected is not None and part.size == expected:
                return _Outcome.DONE
            return _Outcome.RESTART
        if status == 200:
            if part.size:
                log.warning("%s: the server ignored Range; starting over", file.name)
                part.reset()
            total = content_length(response)
        elif status == 206:
            span = content_range(response.headers.get("Content-Range"))
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
        if total is not None and file.max_size is not None and total > file.max_size:
            raise IntegrityError(
                f"{file.name}: the server has {total} bytes, more than the {file.max_size} "
                "the source stated",
                details={**details, "max_size": file.max_size, "actual_size": total},
            )
        expected = file.size if file.size is not None else total
        limit = expected if expected is not None else file.max_size
        self._stream(file, part, response, expected, limit, cancel)
        return _Outcome.DONE

    def _stream(
        self,
        file: RemoteFile,
        part: Part,
        response: httpx.Response,
        total: int | None,
        limit: int | None,
        cancel: threading.Event | None,
    ) -> None:
        """`total`: the size the file must reach; `limit`: the most bytes it may have (the
        total, or without one the source's rough size), so no body can fill the disk."""
        # iter_bytes() without a size yields what the socket gave; batching here rather than in
        # httpx keeps the bytes received before a dropped connection, so the retry resumes
        # exactly where the data stopped.
        buffer = bytearray()
        try:
            for piece in response.iter_bytes():
                part.fetched += len(piece)
                if limit is not None and part.size + len(buffer) + len(piece) > limit:
                    raise IntegrityError(
                        f"{file.name}: the server sent more than the expected {limit} bytes",
                        details={"file": file.name, "expected_size": limit},
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

    def _write(self, name: str, part: Part, data: bytearray, total: int | None) -> None:
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


def _refuse_unsafe_names(files: Sequence[RemoteFile], folder: Path) -> None:
    """Raises UnsafePath for a name that escapes `folder`, is listed twice or collides with
    a download's own files (`.part` files, the manifest)."""
    names = [f.name for f in files]
    for file in files:
        safe_target(folder, file.name)
    seen = set(names)
    if len(seen) < len(names):
        raise UnsafePath("the same file name is listed twice", details={"files": names})
    for name in names:
        if name + PART_SUFFIX in seen or name == MANIFEST_NAME:
            raise UnsafePath(f"file name {name!r} collides with a download's own files")


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
