"""The service's Prometheus metrics, one registry per process.

Series whose label values are known in advance (error codes, job types and outcomes) are
created at zero when the process starts, so that `rate()` and `increase()` work before the
first event instead of seeing a series appear from nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from dreamforge_core.domain.job import GENERATE, JOB_TYPES, JobState
from dreamforge_core.errors import error_codes
from dreamforge_core.ports.job_metrics import JobMetrics

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


Depth = Callable[[], dict[str, int]]


class _StateCollector(Collector):
    """Jobs by state and queue depths, read from the stores at scrape time so every process
    reports the truth."""

    def __init__(self, counts: Callable[[], dict[str, int]], depths: Mapping[str, Depth]) -> None:
        self._counts = counts
        self._depths = depths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # A store that is down must not fail the whole scrape: its gauges are left out and
        # the error counters and /ready tell the story.
        with contextlib.suppress(Exception):
            counts = self._counts()
            jobs = GaugeMetricFamily("dreamforge_jobs", "Jobs by state", labels=["state"])
            for state, n in counts.items():
                jobs.add_metric([state], n)
            yield jobs
        if not self._depths:
            return
        family = GaugeMetricFamily(
            "dreamforge_queue_depth", "Queue messages by state", labels=["queue", "state"]
        )
        for queue, depth in self._depths.items():
            with contextlib.suppress(Exception):
                for state, n in depth().items():
                    family.add_metric([queue, state], n)
        yield family


_OUTCOMES = (JobState.SUCCEEDED.value, JobState.FAILED.value)
WEBHOOK_OUTCOMES = ("delivered", "retried", "given_up")


class PrometheusMetrics(JobMetrics):
    """One registry per process; implements JobMetrics and the HTTP layer's metrics needs.

    `extra_error_codes`: codes counted besides the core's own (the HTTP layer's), at zero from the
    start like those.
    """

    def __init__(self, extra_error_codes: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        self._requests = self._histogram(
            "dreamforge_http_request_duration_seconds",
            "HTTP request latency",
            _FAST,
            ["method", "route", "status"],
        )
        self._errors = self._counter("dreamforge_errors", "Errors by class", ["code"])
        for code in sorted(error_codes() | set(extra_error_codes)):
            self._errors.labels(code)
        self._declare_job_metrics()
        self._declare_runner_metrics()
        self._declare_webhook_metrics()

    def _histogram(
        self, name: str, documentation: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def _counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _declare_job_metrics(self) -> None:
        self._jobs = self._histogram(
            "dreamforge_job_duration_seconds",
            "Job latency, creation to terminal state",
            _SLOW,
            ["type", "state"],
        )
        self._batch = self._histogram(
            "dreamforge_job_images",
            "Images stored per finished generate job (batch size)",
            (1, 2, 4, 8, 16, 32, 64, 100),
            ["state"],
        )
        self._items = self._histogram(
            "dreamforge_item_duration_seconds", "Latency of one image", _SLOW
        )
        self._item_outcomes = self._counter(
            "dreamforge_items", "Images finished, by outcome", ["state"]
        )
        self._download_bytes = self._counter(
            "dreamforge_model_download_bytes", "Bytes received by model_download jobs"
        )
        self._downloads = self._histogram(
            "dreamforge_model_download_seconds",
            "Duration of a model_download attempt that installed its model",
            _SLOW,
        )
        self._wait = self._histogram(
            "dreamforge_queue_wait_seconds", "Creation to first start of a job", _FAST + _SLOW[4:]
        )
        self._gap = self._histogram(
            "dreamforge_worker_gap_seconds",
            "A busy worker's idle time from one job's end to the start of a job that waited",
            (0.0005, *_FAST),
        )

    def _declare_webhook_metrics(self) -> None:
        self._webhooks = self._counter(
            "dreamforge_webhook_deliveries",
            "Webhook attempts, by outcome: delivered, retried, given_up",
            ["outcome"],
        )

    def _declare_runner_metrics(self) -> None:
        self._load = self._histogram(
            "dreamforge_model_load_seconds", "Time to load a model into the runner", _SLOW
        )
        self._memory = Gauge(
            "dreamforge_runner_memory_bytes",
            "Memory of the last item: accelerator (kind=cuda) or runner process (kind=process)",
            ["kind", "phase"],
            registry=self.registry,
        )
        self._peak = self._histogram(
            "dreamforge_runner_peak_memory_bytes",
            "Peak memory per item",
            tuple(2.0**n for n in range(24, 38)),
            ["kind"],
        )

    def count_jobs_here(self) -> None:
        """For a process that runs jobs: their series start at zero, by type and outcome.
        (A stack API runs none, and shows none.)"""
        for job_type in JOB_TYPES:
            for state in _OUTCOMES:
                self._jobs.labels(job_type, state)
        for state in _OUTCOMES:
            self._batch.labels(state)
            self._item_outcomes.labels(state)
        for outcome in WEBHOOK_OUTCOMES:  # webhooks are delivered where jobs run
            self._webhooks.labels(outcome)

    def watch_store(
        self, counts: Callable[[], dict[str, int]], depths: Mapping[str, Depth] | None = None
    ) -> None:
        """`depths`: each queue's message counts by state, e.g. {"gpu": queue.depth}."""
        self.registry.register(_StateCollector(counts, depths or {}))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).observe(seconds)

    def error(self, code: str) -> None:
        self._errors.labels(code).inc()

    def job_finished(
        self, state: str, duration_s: float, *, job_type: str = "generate", images: int = 0
    ) -> None:
        self._jobs.labels(job_type, state).observe(duration_s)
        if job_type == GENERATE:
            self._batch.labels(state).observe(images)

    def item_finished(self, duration_s: float) -> None:
        self._items.observe(duration_s)
        self._item_outcomes.labels("succeeded").inc()

    def items_failed(self, count: int) -> None:
        self._item_outcomes.labels("failed").inc(count)

    def model_downloaded(self, fetched_bytes: int, seconds: float) -> None:
        self._download_bytes.inc(fetched_bytes)
        self._downloads.observe(seconds)

    def queue_wait(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def worker_gap(self, seconds: float) -> None:
        self._gap.observe(seconds)

    def model_loaded(self, seconds: float) -> None:
        self._load.observe(seconds)

    def memory(self, kind: str, start_bytes: int, peak_bytes: int, end_bytes: int) -> None:
        self._memory.labels(kind, "start").set(start_bytes)
        self._memory.labels(kind, "end").set(end_bytes)
        self._memory.labels(kind, "peak").set(peak_bytes)
        self._peak.labels(kind).observe(peak_bytes)

    def webhook_attempt(self, outcome: str) -> None:
        self._webhooks.labels(outcome).inc()

    def render(self) -> tuple[bytes, str]:
        # the HTTP layer adds the charset of text types itself
        return generate_latest(self.registry), CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")
