"""`dreamforge bench cancel`: how soon a cancel shows on the job's stream, for a queued job and
for a running one.

Latency = from sending `POST /v1/jobs/{id}/cancel` to receiving the job's `state` event with
`canceled` on its SSE stream, which a thread opened before the cancel was sent. The API writes
that event itself (ADR 0029), so the figure is the API's write and its delivery. The worker
notices a running job's cancel at its next progress save and stops the runner at its next
step: "next job started" measures that, from the cancel to the `running` event of a job that
was queued behind the canceled one.

Each cancel is checked: it answered `canceled`, the stream ended with `job_canceled` and
`end`, a queued job never started and a running one had started. A run that breaks any of
these stops with an error instead of printing figures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.benchmarks.api import embedded_server, pct_ms
from dreamforge_apps.benchmarks.machine import machine_facts
from dreamforge_apps.client import ApiError, DreamForgeClient, SseEvent
from dreamforge_core.domain.params import MAX_COUNT

#: The fake runner's seconds per step on the server this command starts without --url.
STARTED_STEP_DELAY_S = 0.05
#: Images of a running job: enough that it is still running when its cancel arrives.
RUNNING_COUNT = 4
#: Longest wait for one event (a first job on the SDXL runner loads its model first).
WAIT_S = 300.0

Match = Callable[[SseEvent], bool]


def is_progress(event: SseEvent) -> bool:
    return event.event == "progress"


def is_running(event: SseEvent) -> bool:
    return event.event == "state" and event.data.get("state") == "running"


def is_canceled(event: SseEvent) -> bool:
    return event.event == "state" and event.data.get("state") == "canceled"


class JobStream:
    """One job's SSE stream, read in a thread of its own: each event is kept with the
    `time.perf_counter()` of its arrival, so a wait in the main thread does not delay it."""

    def __init__(self, url: str, api_key: str | None, job_id: str) -> None:
        self.job_id = job_id
        self.events: list[tuple[float, SseEvent]] = []
        self.ended = False
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._client = DreamForgeClient(url, api_key)
        threading.Thread(target=self._follow, name=f"stream-{job_id}", daemon=True).start()

    def _follow(self) -> None:
        try:
            for event in self._client.stream(self.job_id):
                arrived = time.perf_counter()
                with self._changed:
                    self.events.append((arrived, event))
                    self._changed.notify_all()
        except BaseException as e:  # handed to the main thread by `arrival`
            self.error = e
        finally:
            self._client.close()
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def _found(self, match: Match) -> float | None:
        return next((at for at, event in self.events if match(event)), None)

    def arrival(self, match: Match, what: str) -> float:
        """When the first event that `match`es arrived, waiting for it if need be."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while (found := self._found(match)) is None:
                if self.error is not None:
                    raise self.error
                left = deadline - time.monotonic()
                if self.ended or left <= 0:
                    raise click.ClickException(
                        f"the stream of job {self.job_id} "
                        f"{'ended' if self.ended else f'sent nothing for {WAIT_S:g} s'} "
                        f"before {what}"
                    )
                self._changed.wait(left)
            return found

    def opened(self) -> None:
        """Waits for the first event (the replayed `job_created`): the stream is live."""
        self.arrival(lambda _: True, "its first event")

    def codes(self) -> list[str]:
        with self._changed:
            return [str(event.data.get("code")) for _, event in self.events]


@dataclass
class Cancel:
    """One measured cancel, in seconds after its POST was sent."""

    answered_s: float
    canceled_seen_s: float
    next_started_s: float | None = None


@dataclass
class CancelBench:
    url: str
    api_key: str | None
    params: dict[str, Any]
    model_id: str | None
    client: DreamForgeClient = field(init=False)
    models: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.client = DreamForgeClient(self.url, self.api_key, timeout=60)

    def start(self, count: int) -> JobStream:
        """Creates a job and follows its stream from a thread; returns once it is live."""
        job = self.client.create_job({**self.params, "count": count}, model_id=self.model_id)
        self.models.add(str(job.get("model_id")))
        stream = JobStream(self.url, self.api_key, str(job["id"]))
        stream.opened()
        return stream

    def cancel(self, stream: JobStream, queued_behind: JobStream | None = None) -> Cancel:
        sent = time.perf_counter()
        job = self.client.cancel(stream.job_id)
        answered = time.perf_counter() - sent
        if job["state"] != "canceled":
            raise click.ClickException(f"the cancel of {stream.job_id} answered {job['state']}")
        canceled = stream.arrival(is_canceled, "the canceled state") - sent
        stream.arrival(lambda e: e.event == "end", "its end")
        codes = stream.codes()
        if codes[-2:] != ["job_canceled", "end"]:
            raise click.ClickException(f"job {stream.job_id} ended with {codes[-2:]}")
        started = None
        if queued_behind is not None:
            started = queued_behind.arrival(is_running, "it started") - sent
        return Cancel(answered, canceled, started)

    def cancel_quietly(self, stream: JobStream) -> None:
        """Cancels a job that served the bench but is not measured (409: it finished)."""
        try:
            self.client.cancel(stream.job_id)
        except ApiError as e:
            if e.status != 409:
                raise

    def close(self) -> None:
        self.client.close()


def measure_queued(bench: CancelBench, cancels: int) -> list[Cancel]:
    """Cancels `cancels` jobs that wait behind one long job the worker runs."""
    got: list[Cancel] = []
    blocker: JobStream | None = None
    try:
        while len(got) < cancels:
            if blocker is None or blocker.ended:  # the worker finished it: a new one
                blocker = bench.start(MAX_COUNT)
                blocker.arrival(is_progress, "it ran")
            queued = bench.start(1)
            got.append(bench.cancel(queued))
            if "job_started" in queued.codes():
                raise click.ClickException(f"job {queued.job_id} started before its cancel")
    finally:
        if blocker is not None:
            bench.cancel_quietly(blocker)
    return got


def measure_running(bench: CancelBench, cancels: int) -> list[Cancel]:
    """Cancels `cancels` running jobs, each with the next one queued behind it, so that the
    next one's start shows when the worker let the canceled one go."""
    got: list[Cancel] = []
    running = bench.start(RUNNING_COUNT)
    try:
        running.arrival(is_progress, "it ran")
        for _ in range(cancels):
            behind = bench.start(RUNNING_COUNT)
            got.append(bench.cancel(running, queued_behind=behind))
            running = behind
            running.arrival(is_progress, "it ran")
    finally:
        bench.cancel_quietly(running)
    return got


def figures(cancels: list[Cancel]) -> dict[str, Any]:
    seen = [c.canceled_seen_s for c in cancels]
    answered = [c.answered_s for c in cancels]
    out: dict[str, Any] = {
        "cancels": len(cancels),
        "p50_ms": pct_ms(seen, 0.5),
        "p99_ms": pct_ms(seen, 0.99),
        "max_ms": pct_ms(seen, 1.0),
        "post_answered_p50_ms": pct_ms(answered, 0.5),
    }
    started = [c.next_started_s for c in cancels if c.next_started_s is not None]
    if started:
        out |= {
            "next_job_started_p50_ms": pct_ms(started, 0.5),
            "next_job_started_p99_ms": pct_ms(started, 0.99),
            "next_job_started_max_ms": pct_ms(started, 1.0),
        }
    return out


def lines(kind: str, f: dict[str, Any]) -> list[str]:
    out = [
        f"  {kind:8} cancel → canceled seen  p50 {f['p50_ms']} ms / p99 {f['p99_ms']} ms "
        f"(max {f['max_ms']} ms) over {f['cancels']} cancels; POST answered p50 "
        f"{f['post_answered_p50_ms']} ms"
    ]
    if "next_job_started_p50_ms" in f:
        out.append(
            f"  {'':8} cancel → next job running  p50 {f['next_job_started_p50_ms']} ms / "
            f"p99 {f['next_job_started_p99_ms']} ms (max {f['next_job_started_max_ms']} ms)"
        )
    return out


def _measure(
    url: str, api_key: str | None, cancels: int, params: dict[str, Any], model_id: str | None
) -> dict[str, Any]:
    bench = CancelBench(url, api_key, params, model_id)
    try:
        queued = figures(measure_queued(bench, cancels))
        running = figures(measure_running(bench, cancels))
    finally:
        bench.close()
    return {"models": sorted(bench.models), "queued": queued, "running": running}


def run_bench_cancel(
    url: str | None,
    api_key: str | None,
    cancels: int,
    size: int,
    steps: int,
    model_id: str | None,
    json_out: Path | None,
) -> None:
    if cancels < 1:
        raise click.BadParameter("at least 1", param_hint="--cancels")
    machine = machine_facts()
    click.echo(
        f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, {machine['platform']}; "
        f"load avg at start {machine['loadavg_at_start']}"
    )
    params = {"prompt": "bench: cancel", "width": size, "height": size, "steps": steps}
    if url:
        server = url
        measured = _measure(url, api_key, cancels, params, model_id)
    else:
        server = f"embedded (dreamforge serve), fake runner, {STARTED_STEP_DELAY_S:g} s steps"
        with embedded_server({"DREAMFORGE_FAKE_STEP_DELAY_S": str(STARTED_STEP_DELAY_S)}) as at:
            measured = _measure(at, None, cancels, params, model_id)
    click.echo(
        f"server: {server}; model {', '.join(measured['models'])}; jobs of {size}x{size} px, "
        f"{steps} steps ({RUNNING_COUNT} images when canceled running)"
    )
    click.echo("  latency = POST …/cancel sent → `state: canceled` received on the job's stream")
    for kind in ("queued", "running"):
        for line in lines(kind, measured[kind]):
            click.echo(line)
    if json_out:
        report = {"machine": machine, "server": server, "params": params, **measured}
        json_out.write_text(json.dumps(report, indent=2))
        click.echo(f"figures written to {json_out}")
