"""`dreamforge bench stack`: the production stack's figures, measured over HTTP.

Without `--url` it starts `dreamforge api` and `dreamforge worker` itself (fake runner) against
the services the environment names (DREAMFORGE_DATABASE_URL, DREAMFORGE_REDIS_URL,
DREAMFORGE_S3_*): it migrates the database, uses a private Redis namespace and a fresh bucket,
and removes both afterwards (the bench jobs stay in the database: give it a scratch one). With
`--url` it measures a running API and leaves the worker as it is.

Phases, in this order:

1. idle (started stack only): Redis commands/s and CPU with the API alone, then with an idle
   worker polling every DREAMFORGE_WORKER_POLL_MS;
2. one job at a time to an idle worker (fake runner, no step delay): submit→running seen on
   the SSE stream, and the per-job service overhead (see OVERHEAD_DEFINITION);
3. SSE fan-out: many clients on ONE API process, each following one of a few jobs that run
   back to back on the one worker; delivery latency = receipt time - the event's `ts`;
4. POST /v1/jobs throughput and latency (bench_api's client) while the worker runs jobs.

The HTTP client is bench_api's (asyncio, HTTP/1.1 keep-alive); only the SSE reader is new.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from dreamforge_apps.benchmarks.api import (
    BODY,
    _load,
    _pct,
    _post_bytes,
    _read_response,
)
from dreamforge_apps.benchmarks.gaps import gap_line, measure_backlog
from dreamforge_apps.benchmarks.stack_processes import StackUnderTest, started_stack
from dreamforge_core.domain.clock import parse_iso

T = TypeVar("T")

#: Fake seconds per step of the fan-out jobs (stands in for GPU time, started stack only).
SSE_STEP_DELAY_S = 0.02
#: Between two latency samples the worker sits idle this long, so its poll backoff is at
#: its maximum (Dramatiq grows it from 5 ms up to the poll interval) as for a quiet service.
IDLE_GAP_S = (0.25, 0.45)
SSE_CONNECT_PARALLEL = 50

OVERHEAD_DEFINITION = (
    "per job, one at a time, idle worker, fake runner with no step delay (64x64, 4 steps): "
    "time from sending POST /v1/jobs to receiving the job's `end` event on its SSE stream, "
    "minus the runner's own time (FakeRunner.generate with the same parameters, timed in the "
    "bench process). What remains is everything but generation: request, insert, enqueue, "
    "idle-worker pickup, claim, every event write and NOTIFY, PNG encode, S3 PUT, final "
    "state, and delivery to the stream."
)
PICKUP_DEFINITION = (
    "time from sending POST /v1/jobs to receiving the job's `state: running` event on its SSE "
    "stream (opened right after the POST answers, on the same connection), idle worker"
)
DELIVERY_DEFINITION = (
    "receipt time at the client minus the event's `ts` (both this machine's wall clock), for "
    "every event whose `ts` is after the client's stream was open (replayed history excluded)"
)


# --- machine and process facts -----------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine_facts() -> dict[str, Any]:
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _process_ticks(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _all_processes() -> dict[int, tuple[str, int]]:
    """Every process's (group name, CPU ticks); python processes are told apart by their
    command line, since others' test runs and stacks share this machine."""
    out: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
            comm = text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
            if comm.startswith("python") or comm == "pytest":
                cmdline = (entry / "cmdline").read_bytes()
                comm = "others' pytest" if b"pytest" in cmdline else "other python"
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry.name)] = (comm, ticks)
    return out


class CpuWatch:
    """Where the machine's CPU went over one phase, by process (Linux /proc): this bench's
    processes by role, the rest by name (Postgres, Redis and the S3 server serve everyone
    using them; 'others'' processes are not this bench's)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.began = time.monotonic()
        self.machine = _machine_busy_ticks()
        self.before = _all_processes()

    def add(self, name: str, pid: int) -> None:
        """Names a process started after this watch began (its start-up counts too)."""
        self.pids[name] = pid

    def result(self) -> dict[str, Any]:
        wall = time.monotonic() - self.began
        out: dict[str, Any] = {"wall_s": round(wall, 2), "loadavg_1m": round(os.getloadavg()[0], 2)}
        now = _machine_busy_ticks()
        if self.machine and now and now[1] > self.machine[1]:
            cpus = os.cpu_count() or 1
            busy_share = (now[0] - self.machine[0]) / (now[1] - self.machine[1])
            out["machine_cpus_busy"] = round(busy_share * cpus, 2)
        roles = {pid: name for name, pid in self.pids.items()}
        groups: dict[str, float] = {}
        for pid, (name, ticks) in _all_processes().items():
            used = ticks - self.before.get(pid, (name, 0))[1]
            if used > 0 and wall > 0:
                label = roles.get(pid, name)
                groups[label] = groups.get(label, 0.0) + used / self.hz / wall
        out["cpus_by_process"] = {
            k: round(v, 2) for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v >= 0.005
        }
        return out


def _cpu_line(cpu: dict[str, Any]) -> str:
    parts = [f"{cpu['wall_s']} s"]
    if "machine_cpus_busy" in cpu:
        parts.append(f"machine {cpu['machine_cpus_busy']} of {os.cpu_count()} CPUs busy")
    named = [f"{k} {v}" for k, v in cpu.get("cpus_by_process", {}).items()]
    if named:
        parts.append("CPUs used by " + ", ".join(named[:8]))
    parts.append(f"load avg {cpu['loadavg_1m']}")
    return "  [" + "; ".join(parts) + "]"


# --- Redis at idle ------------------------------------------------------------------------


def _redis_counters(client: Any) -> tuple[float, int, int]:
    cpu = client.info("cpu")
    stats = client.info("stats")
    evals = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    return (
        float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        int(stats["total_commands_processed"]),
        int(evals),
    )


def _redis_rates(client: Any, seconds: float) -> dict[str, float]:
    cpu0, cmds0, evals0 = _redis_counters(client)
    t0 = time.monotonic()
    time.sleep(seconds)
    cpu1, cmds1, evals1 = _redis_counters(client)
    wall = time.monotonic() - t0
    return {
        "commands_per_s": round((cmds1 - cmds0) / wall, 1),
        "evalsha_per_s": round((evals1 - evals0) / wall, 1),
        "cpu_percent_of_a_core": round(100 * (cpu1 - cpu0) / wall, 2),
    }


def measure_idle(stack: StackUnderTest, seconds: float) -> dict[str, Any]:
    """Redis load server-wide, API alone and then with the worker idle; the difference is
    the idle worker's polling (other clients of the same Redis add noise to both)."""
    import redis

    client = redis.Redis.from_url(stack.env["DREAMFORGE_REDIS_URL"])
    try:
        without = _redis_rates(client, seconds)
        stack.start_worker(0.0)
        time.sleep(1.0)  # let start-up traffic pass and the poll backoff reach its maximum
        cpu = CpuWatch(stack.pids())
        with_worker = _redis_rates(client, seconds)
        watched = cpu.result()
    finally:
        client.close()
    return {
        "worker_poll_ms": stack.poll_ms,
        "seconds": seconds,
        "redis_without_worker": without,
        "redis_with_idle_worker": with_worker,
        "worker_share_commands_per_s": round(
            with_worker["commands_per_s"] - without["commands_per_s"], 1
        ),
        "worker_share_evalsha_per_s": round(
            with_worker["evalsha_per_s"] - without["evalsha_per_s"], 1
        ),
        "worker_share_redis_cpu_percent": round(
            with_worker["cpu_percent_of_a_core"] - without["cpu_percent_of_a_core"], 2
        ),
        "idle_worker_cpu_percent": round(100 * watched["cpus_by_process"].get("worker", 0.0), 2),
        "cpu": watched,
    }


# --- SSE reading --------------------------------------------------------------------------


@dataclass
class Frame:
    """One SSE event; its JSON is parsed only when asked for, so that a client following a
    busy stream spends its time reading sockets, not decoding."""

    received: float  # time.time() when the bytes arrived
    kind: str
    seq: int
    raw: bytes

    @functools.cached_property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed

    @property
    def ts(self) -> float:
        return parse_iso(str(self.data["ts"])).timestamp()


@dataclass
class SseReader:
    """Reads a chunked `text/event-stream` body: the preamble, then frames as they arrive."""

    reader: asyncio.StreamReader
    chunked: bool
    raw: bytes = b""
    body: bytes = b""
    done: bool = False
    preamble_at: float | None = None
    pending: list[Frame] = field(default_factory=list)

    async def next_frame(self) -> Frame | None:
        while not self.pending:
            if self.done:
                return None
            data = await self.reader.read(65536)
            received = time.time()
            if not data:
                self.done = True
                return None
            self._feed(data, received)
        return self.pending.pop(0)

    def _feed(self, data: bytes, received: float) -> None:
        if self.chunked:
            self.raw += data
            while True:
                end = self.raw.find(b"\r\n")
                if end < 0:
                    break
                size = int(self.raw[:end].split(b";", 1)[0], 16)
                if size == 0:
                    self.done = True
                    break
                if len(self.raw) < end + 2 + size + 2:
                    break
                self.body += self.raw[end + 2 : end + 2 + size]
                self.raw = self.raw[end + 4 + size :]
        else:
            self.body += data
        *blocks, self.body = self.body.split(b"\n\n")
        for block in blocks:
            frame = _parse_block(block, received)
            if frame is not None:
                self.pending.append(frame)
            elif self.preamble_at is None and block.startswith(b"retry:"):
                self.preamble_at = received


def _parse_block(block: bytes, received: float) -> Frame | None:
    kind, seq, data = "", 0, b""
    for line in block.split(b"\n"):
        if line.startswith(b"event: "):
            kind = line[7:].decode()
        elif line.startswith(b"id: "):
            seq = int(line[4:])
        elif line.startswith(b"data: "):
            data = line[6:]
    if not kind:
        return None  # the `retry:` preamble or a keep-alive comment
    return Frame(received, kind, seq, data)


async def open_stream(host: str, port: int, job_id: str) -> tuple[SseReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    return await _request_stream(reader, writer, host, job_id), writer


async def _request_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, job_id: str
) -> SseReader:
    writer.write(
        f"GET /v1/jobs/{job_id}/progress/stream HTTP/1.1\r\nHost: {host}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise click.ClickException(f"GET the stream of {job_id} answered {status}")
    return SseReader(reader, chunked=b"transfer-encoding: chunked" in head.lower())


async def _post_job(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int, body: bytes
) -> str:
    writer.write(_post_bytes(host, port, "/v1/jobs", body))
    status, answer = await _read_response(reader)
    if status != 202:
        raise click.ClickException(f"POST /v1/jobs answered {status}: {answer[:300]!r}")
    return str(json.loads(answer)["id"])


# --- phase 2: one job at a time to an idle worker ------------------------------------------


@dataclass
class Sample:
    post_s: float
    running_seen_s: float
    end_seen_s: float
    created_after_send_s: float  # event ts - send time (wall clock)
    running_after_created_s: float
    end_after_running_s: float
    end_delivery_s: float
    state: str


async def _one_job(host: str, port: int) -> Sample:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        sent_wall, t0 = time.time(), time.perf_counter()
        job_id = await _post_job(reader, writer, host, port, BODY)
        posted = time.perf_counter() - t0
        stream = await _request_stream(reader, writer, host, job_id)
        stamps: dict[str, tuple[float, float]] = {}  # what → (event ts, when seen)
        running_seen = end_seen = 0.0
        state = ""
        while True:
            frame = await stream.next_frame()
            if frame is None:
                raise click.ClickException(f"the stream of {job_id} ended before the job did")
            seen = time.perf_counter() - t0
            if frame.kind == "state" and frame.data.get("state") == "queued":
                stamps.setdefault("created", (frame.ts, seen))
            if frame.kind == "state" and frame.data.get("state") == "running" and not running_seen:
                running_seen = seen
                stamps["running"] = (frame.ts, seen)
            if frame.kind == "end":
                end_seen = seen
                stamps["end"] = (frame.ts, frame.received)
                state = str(frame.data.get("state"))
                break
    finally:
        writer.close()
    created, running, end = stamps["created"][0], stamps["running"][0], stamps["end"]
    return Sample(
        post_s=posted,
        running_seen_s=running_seen,
        end_seen_s=end_seen,
        created_after_send_s=created - sent_wall,
        running_after_created_s=running - created,
        end_after_running_s=end[0] - running,
        end_delivery_s=end[1] - end[0],
        state=state,
    )


def runner_time_s(calls: int = 200) -> float:
    """Median time of FakeRunner.generate (no step delay) for the bench body's parameters."""
    from dreamforge_adapters.fake_runner import FakeRunner
    from dreamforge_core.domain.model import ModelDescriptor
    from dreamforge_core.domain.params import GenerateParams
    from dreamforge_core.ports.runner import GenerationRequest

    class Quiet:
        def step(self, done: int, total: int) -> None:
            pass

        def note(self, code: str, message: str, data: Any) -> None:
            pass

    now = datetime.now(UTC)
    model = ModelDescriptor("fake", "fake", "fake", "1", now, now, installed=True)
    raw = json.loads(BODY)["params"]
    params = GenerateParams(
        prompt=raw["prompt"], width=raw["width"], height=raw["height"], steps=raw["steps"]
    )
    runner, quiet, times = FakeRunner(0.0), Quiet(), []
    for i in range(calls):
        t0 = time.perf_counter()
        runner.generate(GenerationRequest(f"bench-{i}", 0, model, params, i), quiet)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _ms(values: list[float], q: float) -> float:
    return round(_pct(values, q) * 1000, 2)


async def measure_latency(host: str, port: int, samples: int, runner_s: float) -> dict[str, Any]:
    await _one_job(host, port)  # warm-up: connections, model cache, first S3 PUT
    got: list[Sample] = []
    for _ in range(samples):
        await asyncio.sleep(random.uniform(*IDLE_GAP_S))
        got.append(await _one_job(host, port))
    failed = [s.state for s in got if s.state != "succeeded"]
    overhead = [s.end_seen_s - runner_s for s in got]
    running = [s.running_seen_s for s in got]

    def split(name: str, values: list[float]) -> dict[str, float]:
        return {f"{name}_p50_ms": _ms(values, 0.5), f"{name}_p99_ms": _ms(values, 0.99)}

    return {
        "samples": samples,
        "not_succeeded": failed,
        "runner_time_ms": round(runner_s * 1000, 3),
        **split("submit_to_running", running),
        "submit_to_running_max_ms": round(max(running) * 1000, 2),
        **split("overhead", overhead),
        "overhead_max_ms": round(max(overhead) * 1000, 2),
        "breakdown": {
            **split("post", [s.post_s for s in got]),
            **split("send_to_created_ts", [s.created_after_send_s for s in got]),
            **split("created_to_running_ts", [s.running_after_created_s for s in got]),
            **split("running_to_end_ts", [s.end_after_running_s for s in got]),
            **split("end_ts_to_seen", [s.end_delivery_s for s in got]),
        },
    }


# --- phase 3: SSE fan-out -----------------------------------------------------------------


@dataclass
class ClientResult:
    job_id: str
    subscribed_at: float = 0.0
    frames: list[Frame] = field(default_factory=list)
    ended: bool = False

    def latencies(self) -> list[float]:
        """Receipt minus `ts` of the events that happened after the stream was open."""
        out = []
        for frame in self.frames:
            ts = frame.ts
            if ts >= self.subscribed_at:
                out.append(frame.received - ts)
        return out


async def _follow(
    host: str,
    port: int,
    job_id: str,
    connect: asyncio.Semaphore,
    ready: Callable[[], None],
    result: ClientResult,
) -> None:
    async with connect:
        stream, writer = await open_stream(host, port, job_id)
    try:
        announced = False
        while True:
            frame = await stream.next_frame()
            if frame is None:
                break
            if stream.preamble_at is not None and not result.subscribed_at:
                result.subscribed_at = stream.preamble_at
            result.frames.append(frame)
            if not announced:
                announced = True
                ready()
            if frame.kind == "end":
                result.ended = True
                break
    finally:
        writer.close()


async def measure_fanout(
    host: str,
    port: int,
    clients: int,
    jobs: int,
    steps: int,
    start_worker: Callable[[], Coroutine[Any, Any, None]] | None,
    timeout_s: float,
) -> dict[str, Any]:
    body = json.dumps(
        {"params": {"prompt": "bench: fan-out", "width": 64, "height": 64, "steps": steps}}
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if start_worker is not None:
            # First in the queue, followed by nobody: the worker starts with it, so the
            # followed jobs run on a warm process (pool connections, S3 client, model note).
            await _post_job(reader, writer, host, port, BODY)
        job_ids = [await _post_job(reader, writer, host, port, body) for _ in range(jobs)]
    finally:
        writer.close()
    results = [ClientResult(job_ids[i % jobs]) for i in range(clients)]
    connect = asyncio.Semaphore(SSE_CONNECT_PARALLEL)
    all_ready = asyncio.Event()
    ready_count = 0

    def ready() -> None:
        nonlocal ready_count
        ready_count += 1
        if ready_count == clients:
            all_ready.set()

    tasks = [asyncio.create_task(_follow(host, port, r.job_id, connect, ready, r)) for r in results]
    began = time.perf_counter()
    await asyncio.wait_for(all_ready.wait(), 120)
    connected_s = time.perf_counter() - began
    if start_worker is not None:
        await start_worker()
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
    latencies = [x for r in results for x in r.latencies()]
    gaps = sum(1 for r in results if [f.seq for f in r.frames] != list(range(1, len(r.frames) + 1)))
    return {
        "clients": clients,
        "jobs": jobs,
        "clients_per_job": round(clients / jobs, 1),
        "connect_all_s": round(connected_s, 2),
        "clients_ended": sum(r.ended for r in results),
        "clients_with_gaps_or_duplicates": gaps,
        "live_deliveries": len(latencies),
        "replayed_deliveries": sum(len(r.frames) for r in results) - len(latencies),
        "delivery_p50_ms": _ms(latencies, 0.5) if latencies else None,
        "delivery_p99_ms": _ms(latencies, 0.99) if latencies else None,
        "delivery_max_ms": round(max(latencies) * 1000, 2) if latencies else None,
    }


# --- the run ------------------------------------------------------------------------------


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


@dataclass
class Target:
    host: str
    port: int
    stack: StackUnderTest | None  # None: a running API given by --url

    def pids(self) -> dict[str, int]:
        return self.stack.pids() if self.stack else {"bench_client": os.getpid()}

    def worker(self, step_delay_s: float | None) -> None:
        """Makes the started stack's worker run with this fake step delay (None: stopped)."""
        stack = self.stack
        if stack is None or stack.worker_delay_s == step_delay_s:
            return
        stack.stop_worker()
        if step_delay_s is not None:
            stack.start_worker(step_delay_s)


def run_bench_stack(
    url: str | None,
    total: int,
    concurrency: int,
    samples: int,
    sse_clients: int,
    sse_jobs: int,
    sse_steps: int,
    idle_s: float,
    json_out: Path | None,
    backlog_jobs: int = 200,
) -> None:
    machine = machine_facts()
    facts = (
        f"{machine['cpus']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, {machine['platform']}"
    )
    click.echo(f"machine: {facts}; load avg at start {machine['loadavg_at_start']}")
    report: dict[str, Any] = {"machine": machine}

    def phases(target: Target) -> None:
        if target.stack is not None and idle_s > 0:
            report["idle"] = _phase_idle(target.stack, idle_s)
        if samples > 0:
            report["latency"] = _phase_latency(target, samples)
        if backlog_jobs > 0:
            report["backlog"] = _phase_backlog(target, backlog_jobs)
        if sse_clients > 0 and sse_jobs > 0:
            report["sse_fanout"] = _phase_fanout(target, sse_clients, sse_jobs, sse_steps)
        if total > 0:
            report["throughput"] = _phase_throughput(target, total, concurrency)

    if url:
        parts = urlsplit(url)
        report["deployment"] = url
        click.echo(f"measuring the running API at {url}; its worker is whatever it runs")
        phases(Target(parts.hostname or "127.0.0.1", parts.port or 80, None))
    else:
        with started_stack("dreamforge-bench-stack-") as stack:
            click.echo(f"migrate: {stack.migrate()}")
            started = stack.start_api()
            report["deployment"] = {
                "started": "dreamforge api (1 process) + dreamforge worker (1 process, 1 thread)",
                "runner": "fake",
                "redis_namespace": stack.namespace,
                "bucket": stack.bucket,
                "worker_poll_ms": stack.poll_ms,
            }
            click.echo(
                f"stack: dreamforge api + dreamforge worker at {started}, fake runner, "
                f"Redis namespace {stack.namespace}, bucket {stack.bucket}, "
                f"worker poll {stack.poll_ms} ms"
            )
            parts = urlsplit(started)
            phases(Target(parts.hostname or "127.0.0.1", parts.port or 80, stack))
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))
        click.echo(f"\nfigures written to {json_out}")


def _phase_idle(stack: StackUnderTest, idle_s: float) -> dict[str, Any]:
    stack.stop_worker()
    idle = measure_idle(stack, idle_s)
    w, wo = idle["redis_with_idle_worker"], idle["redis_without_worker"]
    click.echo(
        f"\nidle worker (poll {stack.poll_ms} ms): Redis, server-wide, {idle_s:g} s each "
        "without and with it"
    )
    click.echo(
        f"  API alone              {wo['commands_per_s']} commands/s "
        f"({wo['evalsha_per_s']} EVALSHA/s), Redis CPU {wo['cpu_percent_of_a_core']}% of a core"
    )
    click.echo(
        f"  + idle worker          {w['commands_per_s']} commands/s "
        f"({w['evalsha_per_s']} EVALSHA/s), Redis CPU {w['cpu_percent_of_a_core']}% of a core"
    )
    click.echo(
        f"  the worker's share     {idle['worker_share_commands_per_s']} commands/s "
        f"({idle['worker_share_evalsha_per_s']} EVALSHA/s), Redis CPU "
        f"{idle['worker_share_redis_cpu_percent']}% of a core; the worker process itself "
        f"{idle['idle_worker_cpu_percent']}% of a core (other clients of this Redis add noise)"
    )
    click.echo(_cpu_line(idle["cpu"]))
    return idle


def _phase_backlog(target: Target, jobs: int) -> dict[str, Any]:
    target.worker(0.0)
    click.echo(f"\nbacklog: {jobs} jobs queued at once on one busy worker (fake runner, no delay)")
    figures = measure_backlog(f"http://{target.host}:{target.port}", jobs)
    click.echo(gap_line(figures))
    return figures


def _phase_latency(target: Target, samples: int) -> dict[str, Any]:
    target.worker(0.0)
    runner_s = runner_time_s()
    cpu = CpuWatch(target.pids())
    latency = _run_async(measure_latency(target.host, target.port, samples, runner_s))
    latency["cpu"] = cpu.result()
    b = latency["breakdown"]
    worker = "fake runner, no step delay" if target.stack else "the server's worker"
    click.echo(f"\none job at a time, idle worker ({samples} jobs, {worker})")
    click.echo(
        f"  submit→running seen    p50 {latency['submit_to_running_p50_ms']} ms / "
        f"p99 {latency['submit_to_running_p99_ms']} ms "
        f"(max {latency['submit_to_running_max_ms']} ms)   target p50 ≤ 15 ms"
    )
    click.echo(f"    = {PICKUP_DEFINITION}")
    click.echo(
        f"  service overhead       p50 {latency['overhead_p50_ms']} ms / "
        f"p99 {latency['overhead_p99_ms']} ms (max {latency['overhead_max_ms']} ms)   "
        "target p99 ≤ 20 ms"
    )
    click.echo(f"    = {OVERHEAD_DEFINITION}")
    if target.stack is None:
        click.echo(
            "    (a running API: this means something only if its worker runs the fake runner "
            "with no step delay)"
        )
    click.echo(f"    runner's own time: {latency['runner_time_ms']} ms (median)")
    click.echo("  where it goes (p50 / p99; ts = the events' own timestamps):")
    for label, key in (
        ("POST answered", "post"),
        ("send → job_created ts", "send_to_created_ts"),
        ("created → running ts", "created_to_running_ts"),
        ("running → end ts", "running_to_end_ts"),
        ("end ts → end seen", "end_ts_to_seen"),
    ):
        click.echo(f"    {label:24} {b[key + '_p50_ms']} ms / {b[key + '_p99_ms']} ms")
    if latency["not_succeeded"]:
        click.echo(f"  WARNING: jobs ended {latency['not_succeeded']}")
    click.echo(_cpu_line(latency["cpu"]))
    return latency


def _phase_fanout(target: Target, clients: int, jobs: int, steps: int) -> dict[str, Any]:
    target.worker(None)  # the fan-out jobs stay queued until every client follows one
    cpu = CpuWatch(target.pids())
    start: Callable[[], Coroutine[Any, Any, None]] | None = None
    stack = target.stack
    if stack is not None:

        async def start_worker() -> None:
            await asyncio.to_thread(stack.start_worker, SSE_STEP_DELAY_S)
            if stack.worker is not None:
                cpu.add("worker", stack.worker.pid)

        start = start_worker
    timeout_s = 60 + jobs * steps * SSE_STEP_DELAY_S * 3
    fanout = _run_async(
        measure_fanout(target.host, target.port, clients, jobs, steps, start, timeout_s)
    )
    fanout["cpu"] = cpu.result()
    how = (
        f"jobs of {steps} fake steps x {SSE_STEP_DELAY_S * 1000:g} ms run back to back "
        "by the one worker, started once every client follows its job and warmed by one "
        "unfollowed job first"
        if stack
        else "jobs run by the server's worker; only events after a client connected count"
    )
    fanout["how"] = how
    click.echo(
        f"\nSSE fan-out: {fanout['clients']} clients on ONE API process, "
        f"{fanout['clients_per_job']} per job, {fanout['jobs']} jobs ({how})"
    )
    click.echo(
        f"  delivery latency       p50 {fanout['delivery_p50_ms']} ms / "
        f"p99 {fanout['delivery_p99_ms']} ms (max {fanout['delivery_max_ms']} ms) over "
        f"{fanout['live_deliveries']} live deliveries   target p99 ≤ 100 ms"
    )
    click.echo(f"    = {DELIVERY_DEFINITION}")
    if not fanout["live_deliveries"]:
        click.echo(
            "  no live event: the jobs ended before their clients connected (a worker with "
            "no step delay); raise --sse-steps or use a slower runner"
        )
    click.echo(
        f"  {fanout['clients_ended']}/{fanout['clients']} streams reached `end`; "
        f"{fanout['clients_with_gaps_or_duplicates']} with a gap or duplicate; "
        f"all connected in {fanout['connect_all_s']} s"
    )
    click.echo(_cpu_line(fanout["cpu"]))
    return fanout


def _phase_throughput(target: Target, total: int, concurrency: int) -> dict[str, Any]:
    stack = target.stack
    if stack is not None and stack.worker is None:
        target.worker(SSE_STEP_DELAY_S)
    warm_up = min(500, total)

    async def load() -> tuple[list[float], float]:
        await _load(target.host, target.port, warm_up, concurrency)
        return await _load(target.host, target.port, total, concurrency)

    cpu = CpuWatch(target.pids())
    latencies, elapsed = _run_async(load())
    worker = "the server's"
    if stack is not None:
        worker = f"running jobs, fake steps of {(stack.worker_delay_s or 0) * 1000:g} ms"
    throughput: dict[str, Any] = {
        "requests": total,
        "concurrency": concurrency,
        "warm_up_requests": warm_up,
        "creations_per_s": round(total / elapsed, 1),
        "post_p50_ms": _ms(latencies, 0.5),
        "post_p99_ms": _ms(latencies, 0.99),
        "post_max_ms": round(max(latencies) * 1000, 2),
        "worker": worker,
        "cpu": cpu.result(),
    }
    click.echo(
        f"\nPOST /v1/jobs: {total} requests over {concurrency} keep-alive connections "
        f"(after {warm_up} warm-up), worker {worker}"
    )
    click.echo(f"  creations/s            {throughput['creations_per_s']}")
    click.echo(
        f"  POST latency p50/p99   {throughput['post_p50_ms']} ms / "
        f"{throughput['post_p99_ms']} ms (max {throughput['post_max_ms']} ms)"
    )
    click.echo(_cpu_line(throughput["cpu"]))
    return throughput
