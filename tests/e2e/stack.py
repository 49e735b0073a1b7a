"""The production stack as processes: `dreamforge api` and `dreamforge worker` on a fresh
Postgres database, a private Redis namespace and a fresh S3 bucket of the test SeaweedFS."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import START_TIMEOUT_S, NotReady, wait_until_ready
from tests.support.launcher import Service, run_checked, start_service
from tests.support.seaweed import SeaweedS3
from tests.support.services import REDIS_URL


class StackProcesses:
    def __init__(self, work_dir: Path, dsn: str, s3: SeaweedS3, **env: str) -> None:
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DREAMFORGE_DATA_DIR": str(work_dir),
            "DREAMFORGE_DATABASE_URL": dsn,
            "DREAMFORGE_REDIS_URL": REDIS_URL,
            "DREAMFORGE_REDIS_NAMESPACE": f"dreamforge-test-{uuid.uuid4().hex[:8]}",
            "DREAMFORGE_S3_ENDPOINT": s3.endpoint,
            "DREAMFORGE_S3_ACCESS_KEY": s3.access_key,
            "DREAMFORGE_S3_SECRET_KEY": s3.secret_key,
            "DREAMFORGE_S3_BUCKET": f"df-{uuid.uuid4().hex[:12]}",
            "DREAMFORGE_RUNNER": "fake",
            "DREAMFORGE_FAKE_STEP_DELAY_S": "0.005",
            "DREAMFORGE_PROGRESS_INTERVAL_S": "0",
            "DREAMFORGE_RETRY_BASE_DELAY_S": "0.05",
            "DREAMFORGE_SSE_KEEPALIVE_S": "1",
            "DREAMFORGE_WORKER_HEARTBEAT_TIMEOUT_S": "2",
            "DREAMFORGE_LEASE_S": "3",
            "DREAMFORGE_SWEEP_INTERVAL_S": "1",
            "DREAMFORGE_LOG_LEVEL": "warning",
            **env,
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.apis: list[Service] = []
        self.workers: list[tuple[Service, str]] = []
        self.log = work_dir / "stack.log"

    def _spawn(self, *args: str, env: dict[str, str] | None = None) -> Service:
        return start_service(list(args), env or self.env, self.log)

    def migrate(self) -> None:
        run_checked(["db", "migrate"], self.env, timeout=60)

    def start_api(self, port: int | None = None) -> str:
        port = port or (self.port if not self.apis else free_port())
        self.apis.append(self._spawn("api", "--port", str(port)))
        url = f"http://127.0.0.1:{port}"
        self._wait(f"{url}/ready", self.apis[-1])
        return url

    def start_worker(self) -> str:
        url = self._spawn_worker()
        self._wait(f"{url}/ready", self.workers[-1][0])
        return url

    def _spawn_worker(self) -> str:
        port = free_port()
        env = {**self.env, "DREAMFORGE_WORKER_HTTP_PORT": str(port)}
        proc = self._spawn("worker", env=env)
        url = f"http://127.0.0.1:{port}"
        self.workers.append((proc, url))
        return url

    def start_api_and_worker(self, port: int | None = None) -> None:
        """One API and one worker, started side by side: neither waits for the other."""
        port = port or (self.port if not self.apis else free_port())
        self.apis.append(self._spawn("api", "--port", str(port)))
        worker_url = self._spawn_worker()
        self._wait(f"http://127.0.0.1:{port}/ready", self.apis[-1])
        self._wait(f"{worker_url}/ready", self.workers[-1][0])

    def start(self) -> None:
        self.migrate()
        self.start_api_and_worker()

    def kill9_worker(self) -> None:
        proc, _ = self.workers.pop(0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_workers(self) -> None:
        """Stops every worker gracefully (SIGTERM), as an operator's restart does."""
        for proc, _ in self.workers:
            proc.terminate()
        for proc, _ in self.workers:
            proc.wait(30)
        self.workers.clear()

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM to every process; SIGKILL to those still running `grace_s` later."""
        procs = [*self.apis, *(p for p, _ in self.workers)]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def _wait(self, url: str, proc: Service) -> None:
        try:
            wait_until_ready(url, proc, timeout_s=START_TIMEOUT_S, interval_s=0.1)
        except NotReady as e:
            raise RuntimeError(f"{e}: {self.log.read_text()[-4000:]}") from None
