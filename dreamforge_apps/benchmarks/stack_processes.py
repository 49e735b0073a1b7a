"""The production stack as processes for the benchmarks and the soak: `dreamforge api` and
`dreamforge worker` (fake runner) on the services the environment names, with a private Redis
namespace and a fresh bucket that `clean_up` removes (the jobs stay in the database)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import click

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import START_TIMEOUT_S, NotReady, wait_until_ready
from dreamforge_apps.settings import Settings

REQUIRED_ENV = (
    "DREAMFORGE_DATABASE_URL",
    "DREAMFORGE_REDIS_URL",
    "DREAMFORGE_S3_ENDPOINT",
    "DREAMFORGE_S3_ACCESS_KEY",
    "DREAMFORGE_S3_SECRET_KEY",
)


class StackUnderTest:
    """`dreamforge api` and `dreamforge worker` processes on the environment's services."""

    def __init__(self, work_dir: Path, **overrides: str) -> None:
        missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
        if missing:
            raise click.ClickException(
                f"set {', '.join(missing)} (the stack's services), or measure a running API "
                "with --url"
            )
        self.work_dir = work_dir
        self.namespace = f"dreamforge-bench-{uuid.uuid4().hex[:8]}"
        self.bucket = f"df-bench-{uuid.uuid4().hex[:12]}"
        self.env = {
            **os.environ,
            "DREAMFORGE_DATA_DIR": str(work_dir),
            "DREAMFORGE_REDIS_NAMESPACE": self.namespace,
            "DREAMFORGE_S3_BUCKET": self.bucket,
            "DREAMFORGE_RUNNER": "fake",
            "DREAMFORGE_LOG_LEVEL": os.environ.get("DREAMFORGE_LOG_LEVEL", "warning"),
            **overrides,
        }
        self.log = work_dir / "stack.log"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_delay_s: float | None = None  # the running worker's fake step delay
        self.more_workers: list[subprocess.Popen[bytes]] = []  # those of `add_worker`
        self.poll_ms = Settings().worker_poll_ms  # as the worker reads it: environment, .env
        self.url = ""

    def _spawn(self, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "dreamforge_apps.cli", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def migrate(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dreamforge_apps.cli", "db", "migrate"],
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise click.ClickException(f"dreamforge db migrate failed:\n{done.stderr.decode()}")
        return done.stdout.decode().strip()

    def start_api(self) -> str:
        port = free_port()
        self.api = self._spawn("api", "--port", str(port), env=self.env)
        self.url = f"http://127.0.0.1:{port}"
        self._wait(f"{self.url}/ready", self.api)
        return self.url

    def start_worker(self, step_delay_s: float) -> None:
        port = free_port()
        env = {
            **self.env,
            "DREAMFORGE_WORKER_HTTP_PORT": str(port),
            "DREAMFORGE_FAKE_STEP_DELAY_S": str(step_delay_s),
        }
        self.worker = self._spawn("worker", env=env)
        self.worker_delay_s = step_delay_s
        self._wait(f"http://127.0.0.1:{port}/ready", self.worker)

    def add_worker(self, **env: str) -> str:
        """One more worker with these settings; returns the URL of its /metrics port."""
        port = free_port()
        proc = self._spawn(
            "worker", env={**self.env, "DREAMFORGE_WORKER_HTTP_PORT": str(port), **env}
        )
        self.more_workers.append(proc)
        url = f"http://127.0.0.1:{port}"
        self._wait(f"{url}/ready", proc)
        return url

    def kill_worker(self) -> None:
        """SIGKILL: the worker gets no chance to finish, requeue or ack its job."""
        proc, self.worker, self.worker_delay_s = self.worker, None, None
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

    def stop_worker(self) -> None:
        proc, self.worker, self.worker_delay_s = self.worker, None, None
        if proc is not None:
            _terminate(proc)

    def pids(self) -> dict[str, int]:
        out = {"bench_client": os.getpid()}
        if self.api is not None:
            out["api"] = self.api.pid
        if self.worker is not None:
            out["worker"] = self.worker.pid
        return out

    def stop(self) -> None:
        self.stop_worker()
        for worker in self.more_workers:
            worker.terminate()  # all at once: each drains while the others do
        while self.more_workers:
            _terminate(self.more_workers.pop())
        proc, self.api = self.api, None
        if proc is not None:
            _terminate(proc)

    def clean_up(self) -> list[str]:
        """Removes the Redis namespace and the bucket; returns what could not be removed."""
        problems: list[str] = []
        try:
            import redis

            client = redis.Redis.from_url(self.env["DREAMFORGE_REDIS_URL"])
            try:
                keys = list(client.scan_iter(match=f"{self.namespace}:*", count=1000))
                for start in range(0, len(keys), 500):
                    client.delete(*keys[start : start + 500])
            finally:
                client.close()
        except Exception as e:  # best effort: report and go on
            problems.append(f"Redis namespace {self.namespace}: {e}")
        try:
            from minio import Minio
            from minio.deleteobjects import DeleteObject

            parts = urlsplit(self.env["DREAMFORGE_S3_ENDPOINT"])
            s3 = Minio(
                parts.netloc,
                access_key=self.env["DREAMFORGE_S3_ACCESS_KEY"],
                secret_key=self.env["DREAMFORGE_S3_SECRET_KEY"],
                secure=parts.scheme == "https",
                region=self.env.get("DREAMFORGE_S3_REGION", "us-east-1"),
            )
            if s3.bucket_exists(self.bucket):
                names = [
                    DeleteObject(o.object_name or "")
                    for o in s3.list_objects(self.bucket, recursive=True)
                ]
                for error in s3.remove_objects(self.bucket, names):
                    problems.append(f"S3 object {error.name}: {error.message}")
                s3.remove_bucket(self.bucket)
        except Exception as e:
            problems.append(f"bucket {self.bucket}: {e}")
        return problems

    def _wait(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        try:
            wait_until_ready(url, proc, timeout_s=START_TIMEOUT_S)
        except NotReady as e:
            what = "a stack process exited" if e.exited else f"{url} never became ready"
            raise click.ClickException(f"{what}:\n{self.log_tail()}") from None

    def log_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace").splitlines()
        return []

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-4000:]
        return ""


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process (Linux /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextlib.contextmanager
def started_stack(prefix: str, **overrides: str) -> Iterator[StackUnderTest]:
    """A stack in a temporary directory, stopped and cleaned up on the way out."""
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        stack = StackUnderTest(Path(work), **overrides)
        try:
            yield stack
        finally:
            stack.stop()
            for problem in stack.clean_up():
                click.echo(f"clean-up: {problem}", err=True)
