"""`dreamforge bench …`: benchmarks that print figures.

The benchmark code lives in `dreamforge_apps.benchmarks` and is imported only when a bench
command runs: the services never load it. This module is only the table of commands and their
options, a few lines each, which is why it is one module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dreamforge_apps.cli.errors import remember_server

FC = TypeVar("FC", bound=Callable[..., Any])

#: Where a benchmark also writes its figures, as JSON.
json_out_option = click.option(
    "--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None
)


def load_options(url_help: str) -> Callable[[FC], FC]:
    """--url, --requests and --concurrency: the server and the POST load of api and stack."""

    def apply(command: FC) -> FC:
        command = click.option("--concurrency", default=8, show_default=True)(command)
        command = click.option(
            "--requests", "total", default=5000, show_default=True, help="POSTs to send."
        )(command)
        return click.option("--url", default=None, callback=remember_server, help=url_help)(command)

    return apply


def deployment_option(default: str, script: str) -> Callable[[FC], FC]:
    """--deployment: which server the benchmark starts; `script` sets up the stack's services."""
    return click.option(
        "--deployment",
        type=click.Choice(["embedded", "stack"]),
        default=default,
        show_default=True,
        help="stack: api and worker processes on the services the environment names "
        f"({script} sets them up).",
    )


@click.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("api")
@load_options("Measure a running server instead of starting one.")
@click.option("--first-progress-samples", "samples", default=50, show_default=True)
@click.option(
    "--worker-step-delay",
    "step_delays",
    type=float,
    multiple=True,
    default=(0.02, 0.0),
    show_default=True,
    help="Fake runner seconds per step; one embedded run per value.",
)
@json_out_option
def bench_api(**options: Any) -> None:
    """Job creations/s, POST /v1/jobs p50/p99, submit-to-first-progress latency."""
    from dreamforge_apps.benchmarks.api import run_bench_api

    run_bench_api(**options)


@bench.command("limits")
@deployment_option("embedded", "scripts/bench-limits.sh")
@click.option("--requests", "total", default=3000, show_default=True, help="POSTs per run.")
@click.option("--concurrency", default=8, show_default=True)
@click.option("--rounds", default=2, show_default=True, help="Pairs of runs, off then on.")
@click.option(
    "--limit",
    "limits",
    type=click.Choice(["per-minute", "active"]),
    multiple=True,
    default=("per-minute", "active"),
    show_default=True,
    help="The limits switched on (never reached) in the `on` runs.",
)
@json_out_option
def bench_limits(**options: Any) -> None:
    """What the limits per API key cost POST /v1/jobs: throughput with them off and on."""
    from dreamforge_apps.benchmarks.limits import run_bench_limits

    run_bench_limits(**options)


@bench.command("gpu")
@click.option(
    "--quick",
    is_flag=True,
    help="Leave out the presets that compile or offload, and the single-file load.",
)
@click.option("--images", default=5, show_default=True, help="Images timed per mode (median).")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the model and the server's data go (about 14 GB on CUDA); default: a "
    "temporary folder.",
)
@json_out_option
def bench_gpu(**options: Any) -> None:
    """SDXL on this machine's GPU: raw diffusers, each runtime preset and the whole service,
    with cold starts, memory, an out-of-memory job and a timed-out one. Needs no download;
    without CUDA it runs on the tiny demo model."""
    from dreamforge_apps.benchmarks.gpu import run_bench_gpu

    run_bench_gpu(**options)


@bench.command("webhooks")
@deployment_option("stack", "scripts/bench-webhooks.sh")
@click.option("--jobs", default=100, show_default=True, help="Jobs timed, one message each.")
@click.option(
    "--failing-jobs",
    default=20,
    show_default=True,
    help="Jobs whose receiver fails the first three answers of each message.",
)
@click.option(
    "--retry-base",
    "retry_base_s",
    default=0.2,
    show_default=True,
    help="DREAMFORGE_WEBHOOK_RETRY_BASE_S of the server under test, in seconds.",
)
@json_out_option
def bench_webhooks(**options: Any) -> None:
    """Webhook delivery: job end to the receiver's 2xx (p50, p99), and exactly one accepted
    delivery per event for a receiver that fails its first three answers."""
    from dreamforge_apps.benchmarks.webhooks import run_bench_webhooks

    run_bench_webhooks(**options)


@bench.command("stack")
@load_options("Measure a running stack API instead of starting api and worker processes.")
@click.option(
    "--samples", default=200, show_default=True, help="Jobs sent one at a time to an idle worker."
)
@click.option("--sse-clients", default=500, show_default=True, help="Streams on one API process.")
@click.option("--sse-jobs", default=10, show_default=True, help="Jobs the streams follow.")
@click.option(
    "--sse-steps",
    default=50,
    show_default=True,
    help="Steps of each followed job (20 ms fake steps on a started stack).",
)
@click.option(
    "--idle-seconds",
    "idle_s",
    default=10.0,
    show_default=True,
    help="Redis load measured this long without and with an idle worker (0: skip).",
)
@click.option(
    "--backlog-jobs",
    default=200,
    show_default=True,
    help="Jobs queued at once to measure the gap between jobs of a busy worker (0: skip).",
)
@json_out_option
def bench_stack(**options: Any) -> None:
    """Stack (api + worker processes on DREAMFORGE_DATABASE_URL, _REDIS_URL, _S3_*): creations/s,
    POST p50/p99, submit-to-running, gap between jobs with a backlog, per-job overhead, SSE
    delivery with many clients."""
    from dreamforge_apps.benchmarks.stack import run_bench_stack

    run_bench_stack(**options)


@bench.command("routing")
@click.option("--jobs", default=100, show_default=True, help="Jobs per mode, alternating models.")
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
@click.option(
    "--interval-ms",
    default=50.0,
    show_default=True,
    help="Time between two job creations (0: all at once).",
)
@click.option(
    "--load-s", default=0.5, show_default=True, help="Simulated model load (fake runner)."
)
@click.option(
    "--step-delay-s", default=0.01, show_default=True, help="Fake runner seconds per step."
)
@click.option(
    "--max-wait-s",
    default=10.0,
    show_default=True,
    help="DREAMFORGE_ROUTING_MAX_WAIT_S of the run with routing on.",
)
@json_out_option
def bench_routing(**options: Any) -> None:
    """Stack (DREAMFORGE_DATABASE_URL, _REDIS_URL, _S3_*): model loads per 100 jobs with model
    routing on and off, several workers, jobs alternating between two models."""
    from dreamforge_apps.benchmarks.routing import run_bench_routing

    run_bench_routing(**options)


@bench.command("gaps")
@click.option("--jobs", default=200, show_default=True, help="Jobs queued at once.")
def bench_gaps(jobs: int) -> None:
    """Gap between jobs of a busy worker on the embedded deployment (fake runner, no delay)."""
    from dreamforge_apps.benchmarks.api import embedded_server
    from dreamforge_apps.benchmarks.gaps import gap_line, measure_backlog

    with embedded_server({"DREAMFORGE_FAKE_STEP_DELAY_S": "0"}) as url:
        click.echo(f"embedded (dreamforge serve), {jobs} jobs queued at once, fake runner")
        click.echo(gap_line(measure_backlog(url, jobs)))


@bench.command("soak")
@click.option("--jobs", default=10_000, show_default=True, help="Jobs to submit after warm-up.")
@click.option("--clients", default=8, show_default=True, help="Concurrent submitting clients.")
@click.option("--kills", default=2, show_default=True, help="Times the worker gets SIGKILL.")
@json_out_option
def bench_soak(**options: Any) -> None:
    """Soak (api + worker processes on DREAMFORGE_DATABASE_URL, _REDIS_URL, _S3_*): jobs through
    the stack while the worker is killed; fails on a lost or doubly completed job."""
    from dreamforge_apps.benchmarks.soak import run_soak

    run_soak(**options)


@bench.command("slow-clients")
@click.option("--url", default=None, help="Attack a running server on loopback instead.")
@click.option("--connections", default=1000, show_default=True, help="Slow connections (≤ 5000).")
@click.option("--drip", "drip_s", default=1.0, show_default=True, help="Seconds between bytes.")
@click.option("--probes", default=20, show_default=True, help="GET /health and POST /v1/jobs.")
@click.option("--give-up", "give_up_s", default=60.0, show_default=True, help="Stop after (s).")
@click.option(
    "--head-timeout",
    "head_timeout_s",
    default=10.0,
    show_default=True,
    help="DREAMFORGE_HTTP_HEAD_TIMEOUT_S of the server started without --url.",
)
@json_out_option
def bench_slow_clients(**options: Any) -> None:
    """Slow clients (slowloris) on loopback: connections held, /health and POST latency
    during the attack, and how soon the server cuts them."""
    from dreamforge_apps.benchmarks.slow_clients import run_bench_slow_clients

    run_bench_slow_clients(**options)


@bench.command("generate")
@click.option("--size", default=128, show_default=True, help="Image width and height.")
@click.option("--steps", default=20, show_default=True)
@click.option("--count", default=10, show_default=True)
@click.option("--scheduler", default="dpmpp_2m_karras", show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Alternating raw/service rounds.")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Torch threads on both sides (default: the runner's default, all cores but one).",
)
@json_out_option
def bench_generate(**options: Any) -> None:
    """Raw diffusers against the full service path on the demo model, in one run."""
    from dreamforge_apps.benchmarks.generate import run_bench_generate

    run_bench_generate(**options)


@bench.command("images")
@click.option("--size", default=128, show_default=True, help="Image width and height.")
@click.option("--steps", default=20, show_default=True)
@click.option("--rounds", default=5, show_default=True, help="Alternating rounds (median).")
@click.option("--quick", is_flag=True, help="64 px, 4 steps, one round: a smoke run.")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The server's data dir (an intact demo build there is reused); default: temporary.",
)
@json_out_option
def bench_images(**options: Any) -> None:
    """Time per image on the demo model through the service: text-to-image, image-to-image,
    inpainting, one LoRA, the upscale step, and preview_every=1 against none (ratio). Rows
    the server does not accept print as not available."""
    from dreamforge_apps.benchmarks.images import run_bench_images

    run_bench_images(**options)


@bench.command("cancel")
@click.option(
    "--url",
    default=None,
    callback=remember_server,
    help="Measure a running server instead of starting one (fake runner, 50 ms steps).",
)
@click.option("--api-key", envvar="DREAMFORGE_API_KEY", default=None)
@click.option("--cancels", default=20, show_default=True, help="Cancels of each kind.")
@click.option("--size", default=64, show_default=True, help="Image width and height.")
@click.option("--steps", default=30, show_default=True, help="Steps of each image.")
@click.option("--model", "model_id", default=None, help="Model of the jobs (the server's default).")
@json_out_option
def bench_cancel(**options: Any) -> None:
    """Cancel latency, queued and running jobs: POST …/cancel sent → `canceled` received on
    the job's SSE stream (p50/p99/max), and how soon the worker starts the next job."""
    from dreamforge_apps.benchmarks.cancel import run_bench_cancel

    run_bench_cancel(**options)
