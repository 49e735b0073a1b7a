"""Black-box fixtures: a real `dreamforge serve` process on a free port, spoken to over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import START_TIMEOUT_S, NotReady, wait_until_ready
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.hub_fixtures import demo, hub  # noqa: F401  (fixtures of the download tests)
from tests.support.launcher import Service, start_service

#: How long a fixture's teardown lets a server exit on SIGTERM before it kills it.
TEARDOWN_GRACE_S = 3.0


class ServerProcess:
    """One embedded server; can be killed and started again on the same data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DREAMFORGE_DATA_DIR": str(data_dir),
            "DREAMFORGE_RUNNER": "fake",
            "DREAMFORGE_FAKE_STEP_DELAY_S": "0.005",
            "DREAMFORGE_PROGRESS_INTERVAL_S": "0",
            "DREAMFORGE_RETRY_BASE_DELAY_S": "0.05",
            "DREAMFORGE_SSE_KEEPALIVE_S": "1",
            "DREAMFORGE_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: Service | None = None
        self.log = data_dir / "server.log"

    @property
    def metrics_url(self) -> str:
        """Where the metrics of job execution are served: the server itself."""
        return self.url

    def start(self, *args: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = start_service(["serve", "--port", str(self.port), *args], self.env, self.log)
        try:
            wait_until_ready(
                f"{self.url}/health", self.proc, timeout_s=START_TIMEOUT_S, request_timeout_s=1
            )
        except NotReady as e:
            raise RuntimeError(f"{e}: {self.log.read_text()[-3000:]}") from None

    ready_checks = frozenset({"database", "storage", "worker"})

    def stored_keys(self, job_id: str) -> list[str]:
        """Object keys of the job's stored images (local files in the embedded deployment)."""
        root = self.data_dir / "blobs"
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and job_id in str(p)
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def break_storage(self) -> None:
        """A storage fault no retry can cure, whoever runs the tests (root included, whom
        file modes do not stop): the blob directory becomes a file."""
        root = self.data_dir / "blobs"
        shutil.rmtree(root)
        root.write_bytes(b"")

    def stop(self, grace_s: float = 15) -> None:
        """SIGTERM, and SIGKILL if the server has not exited within `grace_s`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class StackServer:
    """The production stack (api + worker processes) behind the ServerProcess interface, so
    the end-to-end suite runs unchanged against both deployments."""

    ready_checks = frozenset({"database", "redis", "storage"})

    def __init__(self, data_dir: Path, env: dict[str, str], dsn: str, s3: object) -> None:
        from tests.e2e.stack import StackProcesses

        self.data_dir = data_dir
        self.stack = StackProcesses(data_dir, dsn, s3, **env)  # type: ignore[arg-type]
        self.env = self.stack.env
        self.url = self.stack.url
        self.port = self.stack.port
        self.proc: Service | None = None
        self.log = self.stack.log  # every API and worker process writes here

    @property
    def metrics_url(self) -> str:
        """Where the metrics of job execution are served: the first worker's own port."""
        return self.stack.workers[0][1]

    def start(self, *args: str) -> None:
        # The database is a clone of the migrated template: `db migrate` would find nothing
        # to do (tests of the migration itself start their own processes).
        self.stack.start_api_and_worker(self.port)
        self.proc = self.stack.apis[-1]

    def kill9(self) -> None:
        """The whole deployment dies at once: every API and worker process."""
        for proc in [*self.stack.apis, *(p for p, _ in self.stack.workers)]:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self.stack.apis.clear()
        self.stack.workers.clear()

    def stop(self, grace_s: float = 20) -> None:
        self.stack.stop(grace_s)

    def _s3(self) -> Any:
        from minio import Minio

        s3 = self.env["DREAMFORGE_S3_ENDPOINT"].split("://", 1)[1]
        return Minio(
            s3,
            self.env["DREAMFORGE_S3_ACCESS_KEY"],
            self.env["DREAMFORGE_S3_SECRET_KEY"],
            secure=False,
            region="us-east-1",
        )

    def stored_keys(self, job_id: str) -> list[str]:
        return sorted(
            o.object_name or ""
            for o in self._s3().list_objects(
                self.env["DREAMFORGE_S3_BUCKET"], prefix="dreamforge/", recursive=True
            )
            if job_id in (o.object_name or "")
        )

    def break_storage(self) -> None:
        """A storage fault no retry can cure: the (still empty) bucket is deleted under the
        running services."""
        self._s3().remove_bucket(self.env["DREAMFORGE_S3_BUCKET"])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every end-to-end test runs on both deployments unless marked `embedded_only`."""
    if "deployment" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("embedded_only")
        # A module-wide server needs its deployment chosen per module, not per test.
        scope = "module" if "shared_server" in metafunc.fixturenames else "function"
        metafunc.parametrize(
            "deployment", ["embedded"] if only else ["embedded", "stack"], scope=scope
        )


@pytest.fixture
def make_server(
    tmp_path: Path, deployment: str, request: pytest.FixtureRequest
) -> Iterator[object]:
    servers: list[ServerProcess | StackServer] = []

    def make(name: str = "server", **env: str) -> ServerProcess | StackServer:
        server: ServerProcess | StackServer
        if deployment == "stack":
            dsn = request.getfixturevalue("postgres_dsn")
            s3 = request.getfixturevalue("seaweed_s3")
            server = StackServer(tmp_path / name, env, dsn, s3)
        else:
            server = ServerProcess(tmp_path / name, env)
        servers.append(server)
        return server

    yield make
    # Nothing is asserted about a server after its test: one that does not exit soon after
    # SIGTERM (a download in its retry backoff holds the IO thread) is killed.
    for server in servers:
        server.stop(TEARDOWN_GRACE_S)


@pytest.fixture
def server(make_server: object) -> ServerProcess:
    srv = make_server()  # type: ignore[operator]
    srv.start()
    return srv  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def shared_server(
    deployment: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess | StackServer]:
    """One server per module and deployment, for tests that neither change what another test
    of the module reads nor stop the server: starting a process per test is most of their cost.
    The module's `SHARED_SERVER_ENV`, if it has one, configures it."""
    env: dict[str, str] = dict(getattr(request.module, "SHARED_SERVER_ENV", {}))
    data_dir = tmp_path_factory.mktemp(f"shared-{deployment}")
    server: ServerProcess | StackServer
    database = None
    if deployment == "stack":
        postgres = request.getfixturevalue("postgres_server")
        database = postgres.create(
            "dreamforge_test", template=request.getfixturevalue("postgres_template")
        )
        s3 = request.getfixturevalue("seaweed_s3")
        server = StackServer(data_dir / "server", env, postgres.dsn_for(database), s3)
    else:
        server = ServerProcess(data_dir / "server", env)
    try:
        server.start()
        yield server
    finally:
        server.stop(TEARDOWN_GRACE_S)
        if database is not None:
            postgres.drop(database)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[DreamForgeClient]:
    c = DreamForgeClient(server.url)
    yield c
    c.close()


def wait_for_state(
    client: DreamForgeClient, job_id: str, states: set[str], timeout: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {client.job(job_id)}")


def wait_for_artifacts(
    client: DreamForgeClient, job_id: str, count: int, timeout: float = 30
) -> dict[int, dict[str, Any]]:
    """The job's artifacts by item index, once it has at least `count` of them."""
    deadline = time.monotonic() + timeout
    while len(client.artifacts(job_id)) < count:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return {a["item_index"]: a for a in client.artifacts(job_id)}
