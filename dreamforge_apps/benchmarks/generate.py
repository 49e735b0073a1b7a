"""`dreamforge bench generate`: the raw diffusers pipeline against the full service path.

Both run the same model and parameters on this machine in one command. Raw: the pipeline
in this process, images back to back. Service: `dreamforge serve` with the SDXL runner, one
job of `count` images over HTTP, timed from POST to the stream's `end` event. Each side gets
a warm-up image first, so neither figure includes a model load (reported on its own); the two
sides then alternate for several rounds and the medians are compared, so a passing load on
the machine does not land on one side only.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.benchmarks.api import embedded_server
from dreamforge_apps.benchmarks.servers import job_to_end
from dreamforge_apps.client import DreamForgeClient


def _peak_rss() -> int:
    from dreamforge_adapters.sdxl.memory import process_memory

    found = process_memory()
    return found[1] if found else 0


def raw_pipeline(folder: Path, params: dict[str, Any]) -> tuple[Callable[[int], None], float, int]:
    """The diffusers pipeline alone, as a script calling diffusers directly would run it."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from diffusers.utils import logging as diffusers_logging

    from dreamforge_adapters.sdxl.schedulers import make_scheduler

    diffusers_logging.disable_progress_bar()
    started = time.perf_counter()
    pipe = StableDiffusionXLPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - started
    pipe.scheduler = make_scheduler(params["scheduler"], pipe.scheduler.config)

    def one(seed: int) -> None:
        pipe(
            prompt=params["prompt"],
            width=params["width"],
            height=params["height"],
            num_inference_steps=params["steps"],
            guidance_scale=params["guidance"],
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="np",
        )

    return one, load_s, torch.get_num_threads()


def _service_job(
    client: DreamForgeClient, params: dict[str, Any]
) -> tuple[float, list[dict[str, Any]]]:
    elapsed, final, events = job_to_end(client, params)
    if final["state"] != "succeeded":
        raise click.ClickException(f"service job {final['state']}: {final.get('error')}")
    return elapsed, events


def install_demo(data_dir: Path) -> Path:
    """Builds the demo model under `data_dir/models` and registers it; its folder."""
    from dreamforge_adapters.sdxl.demo_model import create_demo
    from dreamforge_adapters.sqlite import SqliteDatabase, SqliteModelRegistry

    models = create_demo(data_dir / "models")
    with SqliteDatabase(data_dir / "dreamforge.sqlite3") as database:
        registry = SqliteModelRegistry(database)
        for m in models:
            registry.upsert(m)
    return Path(next(m.local_path for m in models if m.kind == "sdxl-diffusers") or "")


@dataclass
class _Rounds:
    """What the alternating rounds measured, both sides."""

    raw_times: list[float] = field(default_factory=list)
    service_times: list[float] = field(default_factory=list)
    raw_load_s: float = 0.0
    torch_threads: int = 0
    warm_events: list[dict[str, Any]] = field(default_factory=list)
    runner_peaks: list[int] = field(default_factory=list)


def _run_rounds(params: dict[str, Any], count: int, rounds: int) -> _Rounds:
    """Warms both sides up, then alternates raw and service for `rounds` rounds."""
    got = _Rounds()
    with tempfile.TemporaryDirectory(prefix="dreamforge-bench-gen-") as tmp:
        data_dir = Path(tmp)
        folder = install_demo(data_dir)
        one, got.raw_load_s, got.torch_threads = raw_pipeline(folder, params)
        env = {
            "DREAMFORGE_RUNNER": "sdxl",
            "DREAMFORGE_DATA_DIR": str(data_dir),
            "DREAMFORGE_DEFAULT_MODEL": "demo-sdxl-tiny",
            "DREAMFORGE_RUNNER_THREADS": str(got.torch_threads),
            "HF_HUB_OFFLINE": "1",
        }
        with embedded_server(env) as url:
            client = DreamForgeClient(url, timeout=600)
            _, got.warm_events = _service_job(client, {**params, "count": 1, "seed": 0})
            one(0)
            for _ in range(rounds):
                started = time.perf_counter()
                for seed in range(1, count + 1):
                    one(seed)
                got.raw_times.append(time.perf_counter() - started)
                elapsed, events = _service_job(client, {**params, "count": count})
                got.service_times.append(elapsed)
                got.runner_peaks += [
                    int(e.get("peak_bytes", 0)) for e in events if e["code"] == "memory"
                ]
            client.close()
    return got


def _side(times: list[float], count: int) -> dict[str, Any]:
    """One side's timings: the median round and its rate."""
    median_s = statistics.median(times)
    return {
        "median_s": round(median_s, 3),
        "rounds_s": [round(t, 3) for t in times],
        "s_per_image": round(median_s / count, 4),
        "images_per_s": round(count / median_s, 3),
    }


def _figures(params: dict[str, Any], count: int, rounds: int, got: _Rounds) -> dict[str, Any]:
    load = [e.get("seconds") for e in got.warm_events if e["code"] == "model_loaded"]
    raw_s, service_s = statistics.median(got.raw_times), statistics.median(got.service_times)
    return {
        "model": "demo-sdxl-tiny (random weights)",
        "params": params,
        "count": count,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "torch_threads": got.torch_threads,
        "raw": {
            **_side(got.raw_times, count),
            "load_s": round(got.raw_load_s, 3),
            "peak_rss_bytes": _peak_rss(),
        },
        "service": {
            **_side(got.service_times, count),
            "load_s": round(float(load[0] or 0.0), 3) if load else None,
            "runner_peak_bytes": max(got.runner_peaks) if got.runner_peaks else None,
        },
        "service_over_raw": round(service_s / raw_s, 4),
    }


def _echo(figures: dict[str, Any]) -> None:
    params, raw, service = figures["params"], figures["raw"], figures["service"]
    click.echo(
        f"model demo-sdxl-tiny, {params['width']}x{params['height']}, {params['steps']} steps, "
        f"{params['scheduler']}, count {figures['count']}, {figures['rounds']} rounds, "
        f"{figures['cpus']} CPUs, torch threads {figures['torch_threads']}"
    )
    for name, f in (("raw diffusers", raw), ("service (HTTP → runner process → stored)", service)):
        click.echo(
            f"{name:42} median {f['median_s']:.3f} s  {f['s_per_image']:.4f} s/image  "
            f"{f['images_per_s']:.2f} images/s  load {f['load_s']} s  rounds {f['rounds_s']}"
        )
    click.echo(
        f"peak memory: raw process {raw['peak_rss_bytes'] / 2**20:.0f} MiB, runner process "
        f"{(service['runner_peak_bytes'] or 0) / 2**20:.0f} MiB"
    )
    click.echo(f"service/raw = {figures['service_over_raw']:.3f}")


def run_bench_generate(
    size: int,
    steps: int,
    count: int,
    scheduler: str,
    rounds: int,
    threads: int | None,
    json_out: Path | None,
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from dreamforge_adapters.sdxl.cpu import default_cpu_threads

    # Both sides run with the runner's own default unless told otherwise.
    torch.set_num_threads(threads or default_cpu_threads())
    params = {
        "prompt": "bench: a lighthouse at dawn",
        "width": size,
        "height": size,
        "steps": steps,
        "guidance": 6.0,
        "scheduler": scheduler,
    }
    figures = _figures(params, count, rounds, _run_rounds(params, count, rounds))
    _echo(figures)
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2))
