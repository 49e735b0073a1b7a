"""Fake Hugging Face Hub and CivitAI servers for the model downloader's tests.

The downloader must resume with `Range`, retry 429/5xx, send tokens only where they are needed
and refuse bytes whose sha256 is wrong; none of that can be shown against the real services
(no network in tests, and they will not fail on demand). `FakeHub` is one real HTTP server on
loopback that answers both APIs, shaped after what `huggingface_hub` and CivitAI clients read,
and lets a test break it between requests:

    with FakeHub() as hub:
        hub.add_hf_repo("org/sdxl", {"unet/model.safetensors": weights})
        hub.fail_next("/resolve/", [429, 503])  # to be ridden out
        hub.drop_after("model.safetensors", 1 << 20)  # to be resumed from where it broke
        subprocess.run([..., "hf:org/sdxl"], env={**os.environ, **hub.hf_env()}, check=True)
        assert hub.range_starts("model.safetensors") == [1 << 20]

Files are served from memory in 64 KiB writes, so a client killed mid-file really leaves a
partial transfer behind. Every file has a *key* that `bytes_sent` and `corrupt()` use: HF files
are `"<repo_id>/<path>"`, CivitAI files their file name.

Layout (HF: only `org/name` repo ids, model repos only):
    GET  /api/models/{repo}[/revision/{rev}][?blobs=true]    model info
    GET  /api/models/{repo}/tree/{rev}[/{path}][?recursive=true]
    POST /api/models/{repo}/paths-info/{rev}                 form or JSON `paths`
    HEAD|GET /{repo}/resolve/{rev}/{path}                     served directly, no CDN redirect
    GET  /api/v1/models?query=..  /api/v1/models/{id}  /api/v1/model-versions/{id}
    HEAD|GET /api/download/models/{version}[?fileId=..|?type=..&format=..]  307 to /storage/...
    HEAD|GET /storage/{key}/{name}                            the "presigned" URL: no auth
    any path that `redirect_next` names                       302 to the given Location

Threads, not asyncio: `ThreadingHTTPServer` gives each connection a thread, so a throttled
download does not hold up the API calls a test makes meanwhile.

It is one module because both fake services are one server: they share its fault injection,
its request log and its byte serving; the routes of each are grouped in the handler below.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, NotRequired, TypedDict, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

CHUNK = 64 * 1024
# What the Hub stores in LFS: weights by extension, anything else once it is big.
LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack", ".h5")
LFS_MIN_SIZE = 10 * 1024 * 1024
_DATE = "2024-01-01T00:00:00.000Z"  # the one format huggingface_hub's parse_datetime accepts


class LoggedRequest(NamedTuple):
    method: str
    path: str  # with the query string, as the client sent it
    headers: dict[str, str]  # names lower-cased


class CivitaiFile(NamedTuple):
    """One file of a CivitAI version; a plain tuple in this order works too."""

    id: int
    name: str
    data: bytes
    format: str = "SafeTensor"  # or "PickleTensor", "Other"
    type: str = "Model"  # or "Config", "VAE", ...
    primary: bool = True
    advertised_sha256: str | None = None  # a wrong hash to publish instead of the real one


class CivitaiVersion(TypedDict):
    id: int
    name: str
    files: Sequence[CivitaiFile | tuple[Any, ...]]
    baseModel: NotRequired[str]  # "SDXL 1.0" when left out
    gated: NotRequired[bool]  # version API and downloads need the bearer token


@dataclass
class _Blob:
    key: str
    data: bytes
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


@dataclass
class _HfFile:
    blob: _Blob
    lfs: bool
    oid: str  # git blob sha1 of what git stores: the file, or its LFS pointer
    pointer_size: int


@dataclass
class _HfRepo:
    gated: bool = False
    tags: list[str] = field(default_factory=list)  # as the model info lists them
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit
    commits: dict[str, dict[str, _HfFile]] = field(default_factory=dict)  # commit -> path -> file


@dataclass
class _CivitaiVersion:
    id: int
    model_id: int
    name: str
    base_model: str
    gated: bool
    files: list[tuple[CivitaiFile, _Blob]]


@dataclass
class _CivitaiModel:
    id: int
    name: str
    slug: str
    type: str
    versions: list[_CivitaiVersion]  # newest first, as registered


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _hf_file(key: str, path: str, data: bytes) -> _HfFile:
    blob = _Blob(key, data)
    if not (path.endswith(LFS_SUFFIXES) or len(data) > LFS_MIN_SIZE):
        return _HfFile(blob, lfs=False, oid=_git_oid(data), pointer_size=0)
    pointer = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{blob.sha256}\nsize {len(data)}\n"
    ).encode()
    return _HfFile(blob, lfs=True, oid=_git_oid(pointer), pointer_size=len(pointer))


def _byte_range(value: str | None, total: int) -> range | None:
    """The bytes a `Range` header asks for; an empty range when unsatisfiable (416).

    None means "serve it all": no header, or one RFC 9110 lets a server ignore (malformed,
    several ranges, last < first).
    """
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (value or "").strip())
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # "bytes=-N": the last N bytes
        return range(max(total - int(match[2]), 0), total) if int(match[2]) else range(0)
    start = int(match[1])
    if match[2] and int(match[2]) < start:
        return None
    stop = min(int(match[2]) + 1, total) if match[2] else total
    return range(start, stop) if start < total else range(0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub, host: str) -> None:
        super().__init__((host, 0), _Handler)  # port 0: the kernel picks a free one
        self.hub = hub


class FakeHub:
    """Both fake services on one loopback port; see the module docstring for the layout."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[LoggedRequest] = []
        self.bytes_sent: Counter[str] = Counter()  # body bytes written to sockets, per file key
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._hf: dict[str, _HfRepo] = {}
        self._civitai: dict[int, _CivitaiModel] = {}
        self._versions: dict[int, _CivitaiVersion] = {}
        self._storage: dict[str, _Blob] = {}  # presigned key -> file
        self.reset_faults()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeHub:
        if self._server is None:
            self._server = _Server(self, self.host)
            self.port = int(self._server.server_address[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(0.05,),  # poll interval: how long stop() waits
                name=f"fake-hub-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening and cuts open connections (keep-alive ones too), like a dead server."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with suppress(OSError):  # wakes the handler thread blocked reading from it
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- content ------------------------------------------------------------------------------

    def add_hf_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision_name: str = "main",
        gated: bool = False,
        tags: Sequence[str] = (),
    ) -> str:
        """Adds (or points `revision_name` at) a commit of `files`; returns its 40-hex sha.

        The sha depends only on the repo id and the files, so tests can compute it twice.
        `gated` and `tags` (e.g. "lora", "base_model:…") apply to the whole repo.
        """
        if repo_id.count("/") != 1:
            raise ValueError(f"repo ids are 'org/name', got {repo_id!r}")
        tree = {path: _hf_file(f"{repo_id}/{path}", path, data) for path, data in files.items()}
        listing = "".join(f"{path}\0{tree[path].blob.sha256}\n" for path in sorted(tree))
        commit = hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest()
        with self._lock:
            repo = self._hf.setdefault(repo_id, _HfRepo())
            repo.gated = gated
            repo.tags = list(tags)
            repo.commits[commit] = tree
            repo.branches[revision_name] = commit
        return commit

    def add_civitai_model(
        self,
        model_id: int,
        name: str,
        versions: Sequence[CivitaiVersion],
        *,
        model_type: str = "Checkpoint",
        slug: str | None = None,
    ) -> None:
        """Registers a model; `versions` newest first, as the API lists them."""
        model = _CivitaiModel(
            model_id,
            name,
            slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            model_type,
            [],
        )
        for spec in versions:
            files = [CivitaiFile(*f) for f in spec["files"]]
            model.versions.append(
                _CivitaiVersion(
                    id=spec["id"],
                    model_id=model_id,
                    name=spec["name"],
                    base_model=spec.get("baseModel", "SDXL 1.0"),
                    gated=spec.get("gated", False),
                    files=[(f, _Blob(f.name, f.data)) for f in files],
                )
            )
        with self._lock:
            self._civitai[model_id] = model
            self._versions.update((v.id, v) for v in model.versions)

    def hf_url(self, repo_id: str, path: str, revision: str = "main") -> str:
        return f"{self.url}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def civitai_download_url(self, version_id: int, file_id: int | None = None) -> str:
        """The `downloadUrl` the API publishes: bare for the primary file, else `?fileId=`."""
        query = "" if file_id is None else f"?fileId={file_id}"
        return f"{self.url}/api/download/models/{version_id}{query}"

    def hf_env(self) -> dict[str, str]:
        """Environment for a process whose huggingface_hub must talk to this server only."""
        return {
            "HF_ENDPOINT": self.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }

    # --- faults -------------------------------------------------------------------------------

    def reset_faults(self) -> None:
        """Back to a healthy server: no failures, drops, throttle, corruption or token."""
        with self._lock:
            self._token: str | None = None
            self._failures: list[tuple[str, list[int | None]]] = []
            self._redirects: list[tuple[str, str]] = []
            self._drops: list[tuple[str, int]] = []
            self._rate: float | None = None
            self._corrupted: set[str] = set()

    def require_token(self, token: str | None) -> None:
        """The bearer token gated repos and versions accept; with None they accept nothing."""
        with self._lock:
            self._token = token

    def fail_next(self, path_substring: str, statuses: Sequence[int | None]) -> None:
        """The next len(statuses) requests whose path contains `path_substring` get these;
        None lets that request through (e.g. `[None, 404]`: a download whose resume fails)."""
        with self._lock:
            self._failures.append((path_substring, list(statuses)))

    def redirect_next(self, path_substring: str, location: str) -> None:
        """The next request whose path contains `path_substring` gets `302 Location: location`."""
        with self._lock:
            self._redirects.append((path_substring, location))

    def throttle(self, bytes_per_s: float | None) -> None:
        """Slows every body being streamed, including ones already under way; None: full speed."""
        with self._lock:
            self._rate = bytes_per_s

    def drop_after(self, path_substring: str, n_bytes: int) -> None:
        """The next matching GET hangs up after `n_bytes` of body; Content-Length promised more."""
        with self._lock:
            self._drops.append((path_substring, n_bytes))

    def corrupt(self, key: str, corrupted: bool = True) -> None:
        """Serves the file with its last byte flipped: size and advertised sha256 unchanged."""
        with self._lock:
            (self._corrupted.add if corrupted else self._corrupted.discard)(key)

    # --- for assertions -----------------------------------------------------------------------

    def range_starts(self, path_substring: str) -> list[int]:
        """N of every `Range: bytes=N-...` GET whose path contains `path_substring`, in order."""
        with self._lock:
            logged = list(self.requests)
        starts = []
        for method, path, headers in logged:
            match = re.match(r"bytes=(\d+)-", headers.get("range", ""))
            if method == "GET" and path_substring in path and match:
                starts.append(int(match[1]))
        return starts

    # --- used by the handler ------------------------------------------------------------------

    def _take_failure(self, path: str) -> int | None:
        with self._lock:
            for i, (substring, statuses) in enumerate(self._failures):
                if substring in path:
                    status = statuses.pop(0)
                    if not statuses:
                        del self._failures[i]
                    return status
        return None

    def _take_redirect(self, path: str) -> str | None:
        with self._lock:
            for i, (substring, location) in enumerate(self._redirects):
                if substring in path:
                    del self._redirects[i]
                    return location
        return None

    def _take_drop(self, path: str) -> int | None:
        with self._lock:
            for i, (substring, n_bytes) in enumerate(self._drops):
                if substring in path:
                    del self._drops[i]
                    return n_bytes
        return None

    def _authorized(self, authorization: str | None) -> bool:
        with self._lock:
            return self._token is not None and authorization == f"Bearer {self._token}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients use pooled connections

    @property
    def hub(self) -> FakeHub:
        return cast(_Server, self.server).hub

    def setup(self) -> None:
        super().setup()
        with self.hub._lock:
            self.hub._connections.add(self.connection)

    def finish(self) -> None:
        with self.hub._lock:
            self.hub._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is `hub.requests`

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # --- plumbing -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.hub._lock:
            self.hub.requests.append(LoggedRequest(self.command, self.path, headers))
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if (status := self.hub._take_failure(self.path)) is not None:
                retry = {"Retry-After": "0"} if status == 429 else {}
                self._error(status, f"injected failure {status}", headers=retry)
                return
            if (location := self.hub._take_redirect(self.path)) is not None:
                self._send(302, {"Location": location})
                return
            # Split before unquoting: huggingface_hub sends revisions as one %2F-quoted segment.
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            self._route(parts)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-response

    def _send(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._send(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def _error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        extra = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
        extra.update(headers or {})
        body = json.dumps({"error": message}).encode()
        self._send(status, {"Content-Type": "application/json", **extra}, body)

    def _blob(self, blob: _Blob, headers: Mapping[str, str]) -> None:
        """The file, or the part `Range` asks for, streamed; faults applied."""
        total = len(blob.data)
        span = _byte_range(self.headers.get("Range"), total)
        if span is not None and not span:
            self._send(416, {"Content-Range": f"bytes */{total}"})
            return
        status = 200 if span is None else 206
        span = span or range(total)
        head = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            **headers,
            "Content-Length": str(len(span)),
        }
        if status == 206:
            head["Content-Range"] = f"bytes {span.start}-{span.stop - 1}/{total}"
        self.send_response(status)
        for name, value in head.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        drop = self.hub._take_drop(self.path)
        stop = span.stop if drop is None else min(span.stop, span.start + drop)
        with self.hub._lock:
            flip = blob.key in self.hub._corrupted
        view, pos, began = memoryview(blob.data), span.start, time.monotonic()
        while pos < stop:
            rate = self.hub._rate  # read per chunk: a test may change it mid-transfer
            size = CHUNK if rate is None else max(1, min(CHUNK, int(rate / 20)))
            chunk: bytes | memoryview = view[pos : min(pos + size, stop)]
            if flip and pos + len(chunk) == total:
                chunk = bytes(chunk[:-1]) + bytes([chunk[-1] ^ 0xFF])
            self.wfile.write(chunk)
            with self.hub._lock:
                self.hub.bytes_sent[blob.key] += len(chunk)
            pos += len(chunk)
            if rate:
                time.sleep(max(0.0, began + (pos - span.start) / rate - time.monotonic()))
        if drop is not None:  # hang up: the client sees fewer bytes than Content-Length said
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    # --- routes -------------------------------------------------------------------------------

    def _route(self, parts: list[str]) -> None:
        if parts[:3] == ["api", "v1", "models"] and len(parts) <= 4:
            self._civitai_models(parts[3] if len(parts) == 4 else None)
        elif parts[:3] == ["api", "v1", "model-versions"] and len(parts) == 4:
            self._civitai_version(parts[3])
        elif parts[:3] == ["api", "download", "models"] and len(parts) == 4:
            self._civitai_download(parts[3])
        elif parts[0] == "storage" and len(parts) == 3:
            self._storage(parts[1], parts[2])
        elif parts[:2] == ["api", "models"] and len(parts) >= 4:
            self._hf_api(f"{parts[2]}/{parts[3]}", parts[4:])
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._hf_resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        else:
            self._error(404, f"no route for {self.path}")

    # --- Hugging Face -------------------------------------------------------------------------

    def _hf_commit(self, repo_id: str, revision: str) -> tuple[str, dict[str, _HfFile]] | None:
        """The commit and tree for a branch name or commit sha; None once an error was sent."""
        repo = self.hub._hf.get(repo_id)
        if repo is None:
            self._error(404, f"Repository {repo_id} not found", code="RepoNotFound")
            return None
        if repo.gated and not self.hub._authorized(self.headers.get("Authorization")):
            message = f"Access to model {repo_id} is restricted. You must be authenticated."
            self._error(401, message, code="GatedRepo")
            return None
        commit = repo.branches.get(revision, revision)
        if commit not in repo.commits:
            self._error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
            return None
        return commit, repo.commits[commit]

    def _hf_api(self, repo_id: str, rest: list[str]) -> None:
        if not rest or rest[0] == "revision":
            found = self._hf_commit(repo_id, rest[1] if len(rest) > 1 else "main")
            if found:
                self._json(self._hf_info(repo_id, *found))
        elif rest[0] == "tree" and len(rest) >= 2:
            if found := self._hf_commit(repo_id, rest[1]):
                self._hf_tree(found[1], "/".join(rest[2:]))
        elif rest[0] == "paths-info" and len(rest) == 2 and self.command == "POST":
            if found := self._hf_commit(repo_id, rest[1]):
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    paths = json.loads(self.body or b"{}").get("paths", [])
                else:
                    paths = parse_qs(self.body.decode()).get("paths", [])
                entries = _hf_entries(found[1])
                self._json([entries[p] for p in paths if p in entries])
        else:
            self._error(404, f"no route for {self.path}")

    def _hf_info(self, repo_id: str, commit: str, tree: dict[str, _HfFile]) -> dict[str, Any]:
        blobs = self.query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path in sorted(tree):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:  # what model_info(files_metadata=True) asks for
                f = tree[path]
                sibling.update(size=len(f.blob.data), blobId=f.oid)
                if f.lfs:
                    sibling["lfs"] = {
                        "sha256": f.blob.sha256,
                        "size": len(f.blob.data),
                        "pointerSize": f.pointer_size,
                    }
            siblings.append(sibling)
        return {
            "_id": commit[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit,
            "lastModified": _DATE,
            "createdAt": _DATE,
            "private": False,
            "gated": "auto" if self.hub._hf[repo_id].gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(self.hub._hf[repo_id].tags),
            "siblings": siblings,
        }

    def _hf_tree(self, tree: dict[str, _HfFile], path: str) -> None:
        entries = _hf_entries(tree)
        if path and entries.get(path, {}).get("type") != "directory":
            self._error(404, f"{path} is not a folder", code="EntryNotFound")
            return
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        prefix = f"{path}/" if path else ""
        listed = [
            entry
            for name, entry in sorted(entries.items())
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :])
        ]
        self._json(listed)

    def _hf_resolve(self, repo_id: str, revision: str, path: str) -> None:
        found = self._hf_commit(repo_id, revision)
        if found is None:
            return
        commit, tree = found
        f = tree.get(path)
        if f is None:  # X-Repo-Commit lets huggingface_hub cache the miss
            self._error(
                404, f"{path} not found", code="EntryNotFound", headers={"X-Repo-Commit": commit}
            )
            return
        headers = {"X-Repo-Commit": commit, "ETag": f'"{f.blob.sha256 if f.lfs else f.oid}"'}
        if f.lfs:  # what the real Hub puts on its redirect to the CDN
            headers.update(
                {"X-Linked-Etag": f'"{f.blob.sha256}"', "X-Linked-Size": str(len(f.blob.data))}
            )
        self._blob(f.blob, headers)

    # --- CivitAI ------------------------------------------------------------------------------

    def _civitai_models(self, model_id: str | None) -> None:
        models = self.hub._civitai
        if model_id is not None:
            model = models.get(int(model_id)) if model_id.isdigit() else None
            if model is None:
                self._error(404, f"No model with id {model_id}")
            else:
                self._json(self._civitai_model(model))
            return
        query = self.query.get("query", "").lower()
        items = [
            self._civitai_model(m)
            for m in models.values()
            if query in m.name.lower() or query == m.slug
        ]
        meta = {"totalItems": len(items), "currentPage": 1, "pageSize": 100, "totalPages": 1}
        self._json({"items": items, "metadata": meta})

    def _civitai_model(self, model: _CivitaiModel) -> dict[str, Any]:
        return {
            "id": model.id,
            "name": model.name,
            "type": model.type,
            "nsfw": False,
            "tags": [],
            "modelVersions": [self._civitai_version_json(v) for v in model.versions],
        }

    def _civitai_version_json(self, version: _CivitaiVersion) -> dict[str, Any]:
        files = []
        for spec, blob in version.files:
            sha = (spec.advertised_sha256 or blob.sha256).upper()
            files.append(
                {
                    "id": spec.id,
                    "name": spec.name,
                    "type": spec.type,
                    "sizeKB": len(blob.data) / 1024,
                    "primary": spec.primary,
                    "metadata": {"format": spec.format, "size": "full", "fp": "fp16"},
                    "hashes": {
                        "AutoV2": sha[:10],
                        "SHA256": sha,
                        "CRC32": f"{zlib.crc32(blob.data):08X}",
                    },
                    "pickleScanResult": "Success",
                    "virusScanResult": "Success",
                    "downloadUrl": self.hub.civitai_download_url(
                        version.id, None if spec.primary else spec.id
                    ),
                }
            )
        return {
            "id": version.id,
            "modelId": version.model_id,
            "name": version.name,
            "baseModel": version.base_model,
            "createdAt": _DATE,
            "trainedWords": [],
            "files": files,
            "images": [],
            "downloadUrl": self.hub.civitai_download_url(version.id),
        }

    def _civitai_lookup(self, version_id: str) -> _CivitaiVersion | None:
        """The version, if it exists and the caller may see it; None once an error was sent."""
        version = self.hub._versions.get(int(version_id)) if version_id.isdigit() else None
        if version is None:
            self._error(404, f"No version with id {version_id}")
            return None
        # CivitAI also takes the token as `?token=` on download links.
        auth = self.headers.get("Authorization") or f"Bearer {self.query.get('token')}"
        if version.gated and not self.hub._authorized(auth):
            self._error(401, "Unauthorized")
            return None
        return version

    def _civitai_version(self, version_id: str) -> None:
        if version := self._civitai_lookup(version_id):
            model = self.hub._civitai[version.model_id]
            self._json(
                {
                    **self._civitai_version_json(version),
                    "model": {"name": model.name, "type": model.type, "nsfw": False},
                }
            )

    def _civitai_download(self, version_id: str) -> None:
        version = self._civitai_lookup(version_id)
        if version is None:
            return
        # `fileId` picks a file (our downloadUrl for non-primary files); CivitAI's own
        # `type`/`format` filters work too; neither given: the primary file.
        q = self.query
        chosen = [
            (spec, blob)
            for spec, blob in version.files
            if ("fileId" not in q or str(spec.id) == q["fileId"])
            and q.get("type", spec.type) == spec.type
            and q.get("format", spec.format) == spec.format
            and (spec.primary or q.keys() & {"fileId", "type", "format"})
        ]
        if not chosen:
            self._error(404, f"No matching file in version {version_id}")
            return
        spec, blob = chosen[0]
        key = secrets.token_urlsafe(12)
        with self.hub._lock:
            self.hub._storage[key] = blob
        location = f"{self.hub.url}/storage/{key}/{quote(spec.name)}"
        self._send(307, {"Location": location})

    def _storage(self, key: str, name: str) -> None:
        blob = self.hub._storage.get(key)
        if blob is None:
            self._error(404, "NoSuchKey")
            return
        self._blob(blob, {"Content-Disposition": f'attachment; filename="{name}"'})


def _hf_entries(tree: dict[str, _HfFile]) -> dict[str, dict[str, Any]]:
    """Tree entries by path, as /tree and /paths-info return them, folders included."""
    entries: dict[str, dict[str, Any]] = {}
    for path, f in tree.items():
        entry: dict[str, Any] = {
            "type": "file",
            "oid": f.oid,
            "size": len(f.blob.data),
            "path": path,
        }
        if f.lfs:
            entry["lfs"] = {
                "oid": f.blob.sha256,
                "size": len(f.blob.data),
                "pointerSize": f.pointer_size,
            }
        entries[path] = entry
        parent = path
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            folder_oid = hashlib.sha1(parent.encode()).hexdigest()
            entries[parent] = {"type": "directory", "oid": folder_oid, "path": parent}
    return entries
