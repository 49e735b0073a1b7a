"""The `dreamforge` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from dreamforge_apps import __version__
from dreamforge_apps.cli_errors import PoliteGroup, remember_server
from dreamforge_apps.dlq_cli import dlq
from dreamforge_apps.model_cli import COMMANDS as MODEL_COMMANDS
from dreamforge_apps.settings import Settings

#: Libraries whose routine lines would bury a one-shot command's own output and its one-line
#: failure (request lines, the pool's reconnect attempts); the services keep them.
_QUIET_IN_COMMANDS = {"httpx": logging.WARNING, "psycopg.pool": logging.ERROR}


def _settings(*, service: bool = False) -> Settings:
    from dreamforge_apps.logging_setup import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if not service:
        for name, level in _QUIET_IN_COMMANDS.items():
            logging.getLogger(name).setLevel(level)
    return settings


@click.group(cls=PoliteGroup)
@click.version_option(__version__, prog_name="dreamforge")
def main() -> None:
    """Dream Forge: a self-hosted text-to-image job service."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--allow-insecure-bind",
    is_flag=True,
    help="Listen beyond loopback without API keys (not for shared networks).",
)
def serve(host: str, port: int, allow_insecure_bind: bool) -> None:
    """Run API and worker in one process with no infrastructure (SQLite, local files)."""
    from dreamforge_apps.embedded import ConfigurationError
    from dreamforge_apps.serve import UnsafeBind, serve_embedded

    settings = _settings(service=True)
    if allow_insecure_bind:
        settings.allow_insecure_bind = True
    try:
        serve_embedded(settings, host, port)
    except (UnsafeBind, ConfigurationError) as e:
        raise click.ClickException(str(e)) from e


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--allow-insecure-bind",
    is_flag=True,
    help="Listen beyond loopback without API keys (not for shared networks).",
)
def api(host: str, port: int, allow_insecure_bind: bool) -> None:
    """Run the API service of the production stack (Postgres, Redis, S3)."""
    from dreamforge_apps.serve import UnsafeBind
    from dreamforge_apps.stack import StackNotConfigured
    from dreamforge_apps.stack_api import serve_api

    settings = _settings(service=True)
    if allow_insecure_bind:
        settings.allow_insecure_bind = True
    try:
        serve_api(settings, host, port)
    except (UnsafeBind, StackNotConfigured) as e:
        raise click.ClickException(str(e)) from e


@main.command()
def worker() -> None:
    """Run a worker of the production stack: one process per GPU."""
    from dreamforge_apps.stack import StackNotConfigured
    from dreamforge_apps.stack_worker import run_worker_process

    try:
        run_worker_process(_settings(service=True))
    except StackNotConfigured as e:
        raise click.ClickException(str(e)) from e


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def migrate() -> None:
    """Apply schema migrations to the configured database (Postgres when
    DREAMFORGE_DATABASE_URL is set, else the embedded SQLite file). Safe to run concurrently."""
    settings = _settings()
    if settings.database_url:
        from dreamforge_adapters.postgres import PostgresDatabase, migrate, schema_version

        with PostgresDatabase(settings.database_url, max_size=1) as database:
            applied = migrate(database)
            version = schema_version(database)
        click.echo(f"applied {applied or 'nothing'}; Postgres schema at version {version}")
        return
    from dreamforge_adapters.sqlite import SqliteDatabase

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "dreamforge.sqlite3"
    with SqliteDatabase(path) as database:
        click.echo(f"SQLite schema at version {database.schema_version}: {path}")


@main.group()
def model() -> None:
    """The model registry."""


@model.command("list")
@click.option("--all", "include_disabled", is_flag=True, help="Include disabled models.")
def model_list(include_disabled: bool) -> None:
    """List registered models."""
    from dreamforge_apps.registry_access import open_registry

    with open_registry(_settings()) as registry:
        models = registry.list(include_disabled=include_disabled)
    if not models:
        click.echo("no models registered")
    for m in models:
        flags = ("installed" if m.installed else "missing") + ("" if m.enabled else ", disabled")
        click.echo(
            f"{m.id}\t{m.kind}\t{m.version}\t{flags}\t{m.short_hash or '-'}\t"
            f"{m.local_path or m.source_uri or ''}"
        )


for _command in MODEL_COMMANDS:
    model.add_command(_command)


@model.command("create-demo")
def model_create_demo() -> None:
    """Build and register a tiny random SDXL-shaped demo model, offline.

    Both forms are made: a diffusers folder (demo-sdxl-tiny) and a single-file checkpoint
    (demo-sdxl-tiny-single). They run the real diffusers pipeline; their images are noise.
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dreamforge_adapters.sdxl.demo_model import create_demo
    from dreamforge_apps.registry_access import open_registry

    settings = _settings()
    models = create_demo(settings.models_dir.resolve())
    with open_registry(settings) as registry:
        for m in models:
            registry.upsert(m)
    for m in models:
        click.echo(f"registered {m.id} ({m.kind}) sha256 {m.checkpoint_hash} at {m.local_path}")
    click.echo("The demo model has random weights: its images are noise.")


@main.command()
@click.argument("prompt")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--negative", "negative_prompt", default=None, help="Negative prompt.")
@click.option("--seed", type=int, default=None)
@click.option("--width", type=int, default=None)
@click.option("--height", type=int, default=None)
@click.option("--steps", type=int, default=None)
@click.option("--guidance", type=float, default=None)
@click.option("--scheduler", default=None)
@click.option("--preset", default=None)
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), default=None)
@click.option("--model", "model_id", default=None, help="Model id (default: the server's).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download the images here instead of printing their URLs.",
)
@click.option(
    "--server",
    envvar="DREAMFORGE_SERVER",
    default="http://127.0.0.1:8000",
    show_default=True,
    callback=remember_server,
)
@click.option("--api-key", envvar="DREAMFORGE_API_KEY", default=None)
def generate(
    prompt: str,
    count: int,
    negative_prompt: str | None,
    seed: int | None,
    width: int | None,
    height: int | None,
    steps: int | None,
    guidance: float | None,
    scheduler: str | None,
    preset: str | None,
    fmt: str | None,
    model_id: str | None,
    out: Path | None,
    server: str,
    api_key: str | None,
) -> None:
    """Generate images on a running server, showing progress from its event stream."""
    from dreamforge_apps.generate_cmd import run_generate

    params = {
        "prompt": prompt,
        "count": count,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "width": width,
        "height": height,
        "steps": steps,
        "guidance": guidance,
        "scheduler": scheduler,
        "preset": preset,
        "format": fmt,
    }
    sys.exit(
        run_generate(
            server, api_key, {k: v for k, v in params.items() if v is not None}, model_id, out
        )
    )


main.add_command(dlq)


@main.group()
def config() -> None:
    """The settings."""


@config.command("docs")
@click.argument(
    "path", type=click.Path(dir_okay=False, path_type=Path), default="docs/configuration.md"
)
@click.option("--check", is_flag=True, help="Exit 1 if the file is out of date; change nothing.")
def config_docs(path: Path, check: bool) -> None:
    """Render the variable tables of docs/configuration.md from the settings."""
    from dreamforge_apps.config_docs import main as render_docs

    code = render_docs([str(path), *(["--check"] if check else [])])
    if code:
        sys.exit(code)


@config.command("flags")
def config_flags() -> None:
    """List the feature flags: state here, owner, the release they expire in, removal task."""
    from dreamforge_apps.feature_flags import FLAGS

    settings = _settings()
    rows = [("flag", "variable", "state", "owner", "expires", "removal")]
    for flag in FLAGS:
        expires = flag.expires_in_release + (" EXPIRED" if flag.expired(__version__) else "")
        rows.append(
            (flag.name, flag.variable, flag.state(settings), flag.owner, expires, flag.removal_task)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join([*(v.ljust(w) for v, w in zip(row, widths, strict=False)), row[-1]]))


@main.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("api")
@click.option(
    "--url",
    default=None,
    callback=remember_server,
    help="Measure a running server instead of starting one.",
)
@click.option("--requests", "total", default=5000, show_default=True, help="POSTs to send.")
@click.option("--concurrency", default=8, show_default=True)
@click.option("--first-progress-samples", default=50, show_default=True)
@click.option(
    "--worker-step-delay",
    "step_delays",
    type=float,
    multiple=True,
    default=(0.02, 0.0),
    show_default=True,
    help="Fake runner seconds per step; one embedded run per value.",
)
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_api(
    url: str | None,
    total: int,
    concurrency: int,
    first_progress_samples: int,
    step_delays: tuple[float, ...],
    json_out: Path | None,
) -> None:
    """Job creations/s, POST /v1/jobs p50/p99, submit-to-first-progress latency."""
    from dreamforge_apps.bench_api import run_bench_api

    run_bench_api(url, total, concurrency, first_progress_samples, step_delays, json_out)


@bench.command("stack")
@click.option(
    "--url",
    default=None,
    callback=remember_server,
    help="Measure a running stack API instead of starting api and worker processes.",
)
@click.option("--requests", "total", default=5000, show_default=True, help="POSTs to send.")
@click.option("--concurrency", default=8, show_default=True)
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
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_stack(
    url: str | None,
    total: int,
    concurrency: int,
    samples: int,
    sse_clients: int,
    sse_jobs: int,
    sse_steps: int,
    idle_seconds: float,
    backlog_jobs: int,
    json_out: Path | None,
) -> None:
    """Stack (api + worker processes on DREAMFORGE_DATABASE_URL, _REDIS_URL, _S3_*): creations/s,
    POST p50/p99, submit-to-running, gap between jobs with a backlog, per-job overhead, SSE
    delivery with many clients."""
    from dreamforge_apps.bench_stack import run_bench_stack

    run_bench_stack(
        url,
        total,
        concurrency,
        samples,
        sse_clients,
        sse_jobs,
        sse_steps,
        idle_seconds,
        json_out,
        backlog_jobs,
    )


@bench.command("gaps")
@click.option("--jobs", default=200, show_default=True, help="Jobs queued at once.")
def bench_gaps(jobs: int) -> None:
    """Gap between jobs of a busy worker on the embedded deployment (fake runner, no delay)."""
    from dreamforge_apps.bench_api import embedded_server
    from dreamforge_apps.bench_gaps import gap_line, measure_backlog

    with embedded_server({"DREAMFORGE_FAKE_STEP_DELAY_S": "0"}) as url:
        click.echo(f"embedded (dreamforge serve), {jobs} jobs queued at once, fake runner")
        click.echo(gap_line(measure_backlog(url, jobs)))


@bench.command("soak")
@click.option("--jobs", default=10_000, show_default=True, help="Jobs to submit after warm-up.")
@click.option("--clients", default=8, show_default=True, help="Concurrent submitting clients.")
@click.option("--kills", default=2, show_default=True, help="Times the worker gets SIGKILL.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_soak(jobs: int, clients: int, kills: int, json_out: Path | None) -> None:
    """Soak (api + worker processes on DREAMFORGE_DATABASE_URL, _REDIS_URL, _S3_*): jobs through
    the stack while the worker is killed; fails on a lost or doubly completed job."""
    from dreamforge_apps.bench_soak import run_soak

    run_soak(jobs, clients, kills, json_out)


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
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_slow_clients(
    url: str | None,
    connections: int,
    drip_s: float,
    probes: int,
    give_up_s: float,
    head_timeout_s: float,
    json_out: Path | None,
) -> None:
    """Slow clients (slowloris) on loopback: connections held, /health and POST latency
    during the attack, and how soon the server cuts them."""
    from dreamforge_apps.bench_slow_clients import run_bench_slow_clients

    run_bench_slow_clients(url, connections, drip_s, probes, give_up_s, head_timeout_s, json_out)


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
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_generate(
    size: int,
    steps: int,
    count: int,
    scheduler: str,
    rounds: int,
    threads: int | None,
    json_out: Path | None,
) -> None:
    """Raw diffusers against the full service path on the demo model, in one run."""
    from dreamforge_apps.bench_generate import run_bench_generate

    run_bench_generate(size, steps, count, scheduler, rounds, threads, json_out)


if __name__ == "__main__":
    main()
