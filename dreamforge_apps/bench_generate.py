"""`dreamforge bench generate`: the raw diffusers pipeline against the full service path.

Both run the same model and parameters on this machine in one command. Raw: the pipeline
in this process, images back to back. Service: `dreamforge serve` with the SDXL runner, one
job of `count` images over HTTP, timed from POST to the stream's `end` event. Each side gets
one warm-up image first, so neither figure includes a model load (reported on its own).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.bench_api import embedded_server
from dreamforge_apps.client import DreamForgeClient


def _peak_rss() -> int:
    from dreamforge_adapters.sdxl.memory import process_memory

    found = process_memory()
    return found[1] if found else 0


def run_raw(folder: Path, params: dict[str, Any], count: int) -> dict[str, Any]:
    """The diffusers pipeline alone: what a script calling diffusers directly gets."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()

    from dreamforge_adapters.sdxl.schedulers import make_scheduler

    started = time.perf_counter()
    pipe = StableDiffusionXLPipeline.from_pretrained(  # type: ignore[no-untyped-call]
        str(folder), local_files_only=True
    )
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

    one(0)  # warm-up
    started = time.perf_counter()
    for seed in range(1, count + 1):
        one(seed)
    total = time.perf_counter() - started
    return {
        "load_s": round(load_s, 3),
        "total_s": round(total, 3),
        "s_per_image": round(total / count, 4),
        "images_per_s": round(count / total, 3),
        "peak_rss_bytes": _peak_rss(),
        "torch_threads": torch.get_num_threads(),
    }


def run_service(data_dir: Path, params: dict[str, Any], count: int, threads: int) -> dict[str, Any]:
    env = {
        "DREAMFORGE_RUNNER": "sdxl",
        "DREAMFORGE_DATA_DIR": str(data_dir),
        "DREAMFORGE_DEFAULT_MODEL": "demo-sdxl-tiny",
        "DREAMFORGE_RUNNER_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
    }
    with embedded_server(env) as url:
        client = DreamForgeClient(url)
        warm = client.create_job({**params, "count": 1, "seed": 0})
        events = list(client.stream(warm["id"]))
        load = [e.data.get("seconds") for e in events if e.data.get("code") == "model_loaded"]
        started = time.perf_counter()
        job = client.create_job({**params, "count": count})
        events = list(client.stream(job["id"]))
        total = time.perf_counter() - started
        final = client.job(job["id"])
        client.close()
    if final["state"] != "succeeded":
        raise click.ClickException(f"service job {final['state']}: {final.get('error')}")
    peaks = [e.data.get("peak_bytes", 0) for e in events if e.data.get("code") == "memory"]
    return {
        "load_s": round(float(load[0] or 0.0), 3) if load else None,
        "total_s": round(total, 3),
        "s_per_image": round(total / count, 4),
        "images_per_s": round(count / total, 3),
        "runner_peak_bytes": max(peaks) if peaks else None,
        "warm_cache": any(e.data.get("code") == "model_cache_hit" for e in events),
    }


def run_bench_generate(
    size: int, steps: int, count: int, scheduler: str, json_out: Path | None
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dreamforge_adapters.sdxl.demo_model import create_demo
    from dreamforge_adapters.sqlite import SqliteDatabase, SqliteModelRegistry

    params = {
        "prompt": "bench: a lighthouse at dawn",
        "width": size,
        "height": size,
        "steps": steps,
        "guidance": 6.0,
        "scheduler": scheduler,
    }
    with tempfile.TemporaryDirectory(prefix="dreamforge-bench-gen-") as tmp:
        data_dir = Path(tmp)
        models = create_demo(data_dir / "models")
        with SqliteDatabase(data_dir / "dreamforge.sqlite3") as database:
            registry = SqliteModelRegistry(database)
            for m in models:
                registry.upsert(m)
        folder = Path(next(m.local_path for m in models if m.kind == "sdxl-diffusers") or "")
        raw = run_raw(folder, params, count)
        service = run_service(data_dir, params, count, raw["torch_threads"])
    ratio = service["total_s"] / raw["total_s"]
    figures = {
        "model": "demo-sdxl-tiny (random weights)",
        "params": params,
        "count": count,
        "raw": raw,
        "service": service,
        "service_over_raw": round(ratio, 4),
        "cpus": os.cpu_count(),
    }
    click.echo(
        f"model demo-sdxl-tiny, {size}x{size}, {steps} steps, {scheduler}, count {count},"
        f" {os.cpu_count()} CPUs, torch threads {raw['torch_threads']}"
    )
    for name, f in (("raw diffusers", raw), ("service (HTTP → runner process → stored)", service)):
        click.echo(
            f"{name:42} {f['total_s']:.3f} s  {f['s_per_image']:.4f} s/image  "
            f"{f['images_per_s']:.2f} images/s  load {f['load_s']} s"
        )
    click.echo(
        f"peak memory: raw process {raw['peak_rss_bytes'] / 2**20:.0f} MiB, runner process "
        f"{(service['runner_peak_bytes'] or 0) / 2**20:.0f} MiB"
    )
    click.echo(f"service/raw = {ratio:.3f}")
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2))
