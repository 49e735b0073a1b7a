"""`dreamforge bench gpu`: one command that shows what the GPU path does, with nothing to
download.

On CUDA it builds a full-size SDXL base with random weights (fp16, `full_size.py`), and in a full
run also writes it as one original-layout checkpoint so the single-file load path runs at full
size. At 1024², 30 steps it times, each in one run: raw diffusers with its defaults; the
pipeline our runner builds for each runtime preset (a quick run leaves out the compiling and
offloading ones); and the whole service path (HTTP → runner process → stored artifact) with the
fastest preset, with its cold starts, an out-of-memory job and a timed-out one. Without CUDA
the same code runs on the tiny demo model at 128², 4 steps: the figures then only show that
the command works (a test runs it).

It prints a table and, with `--json-out`, writes every figure.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.benchmarks.gpu_inprocess import Shape, our_preset, raw_diffusers, time_pipeline
from dreamforge_apps.benchmarks.gpu_service import service_env, service_path, step_timeout
from dreamforge_apps.benchmarks.machine import machine_facts
from dreamforge_core.domain.presets import DEFAULT_PRESETS

#: The presets timed on CUDA; a quick run leaves out those that compile or offload.
CUDA_PRESETS = ("quality", "ada-24gb", "h100-fast", "low-vram-8gb")
CPU_PRESETS = ("quality", "cpu")
_SLOW_TO_PREPARE = ("compile", "cpu_offload")


def _presets(device: str, quick: bool) -> dict[str, dict[str, Any]]:
    names = CUDA_PRESETS if device == "cuda" else CPU_PRESETS
    chosen = {name: dict(DEFAULT_PRESETS[name].runtime) for name in names}
    if quick:
        chosen = {
            name: runtime
            for name, runtime in chosen.items()
            if not any(runtime.get(option) for option in _SLOW_TO_PREPARE)
        }
    return chosen


def _register(data_dir: Path, folder: Path, name: str) -> str:
    from dreamforge_adapters.sqlite import SqliteDatabase, SqliteModelRegistry
    from dreamforge_adapters.system import SystemClock
    from dreamforge_core.use_cases.import_model import ImportModel

    with SqliteDatabase(data_dir / "dreamforge.sqlite3") as database:
        model = ImportModel(SqliteModelRegistry(database), SystemClock())(folder, name=name)
    return model.id


def _model(data_dir: Path, device: str, single_file: bool) -> tuple[str, Path, Path | None]:
    """The model every mode runs: its id in the registry, its folder, its single file."""
    if device != "cuda":
        from dreamforge_adapters.sdxl.demo_model import DEMO_ID, demo_paths
        from dreamforge_apps.benchmarks.generate import install_demo

        install_demo(data_dir)
        folder, demo_single = demo_paths(data_dir / "models")
        return DEMO_ID, folder, demo_single if single_file else None
    from dreamforge_adapters.sdxl.full_size import FULL_SIZE_ID, build_full_size

    folder = build_full_size(data_dir / "models" / FULL_SIZE_ID, device=device)
    single: Path | None = None
    if single_file:
        from dreamforge_adapters.sdxl.demo_checkpoint import build_demo_single_file

        single = build_demo_single_file(folder, data_dir / "models" / f"{FULL_SIZE_ID}.safetensors")
    return _register(data_dir, folder, FULL_SIZE_ID), folder, single


def _spec(model_id: str, folder: Path, single: Path | None = None) -> dict[str, Any]:
    if single is None:
        return {"id": model_id, "kind": "sdxl-diffusers", "local_path": str(folder),
                "config_path": None, "checkpoint_hash": None}  # fmt: skip
    return {"id": f"{model_id}-single", "kind": "sdxl-checkpoint", "local_path": str(single),
            "config_path": str(folder), "checkpoint_hash": None}  # fmt: skip


def _echo(figures: dict[str, Any]) -> None:
    shape = figures["shape"]
    click.echo(
        f"{figures['device']} ({figures['device_name']}), model {figures['model']}, "
        f"{shape['width']}x{shape['height']}, {shape['steps']} steps, median of "
        f"{shape['images']} images"
    )
    click.echo(f"{'mode':38} {'s/image':>8} {'it/s':>7} {'load s':>7} {'1st s':>7} {'peak MiB':>9}")
    for name, f in figures["modes"].items():
        if "error" in f:
            click.echo(f"{name:38} failed: {f['error']}")
            continue
        click.echo(
            f"{name:38} {f['s_per_image']:>8} {f['it_per_s']:>7} {f['load_s']:>7} "
            f"{f['first_image_s']:>7} {f['memory_mib']['peak']:>9}"
        )
    service = figures["service"]
    cold = service["cold_start"]
    click.echo(
        f"{'service, preset ' + str(service['preset']):38} {service['s_per_image']:>8}   "
        f"(service/raw {figures['service_over_raw']}, service/preset "
        f"{figures['service_over_preset']})"
    )
    warm = service["cold_start_compile_cache_warm"]
    click.echo(
        f"cold start: server ready {cold['server_ready_s']} s, model load "
        f"{cold['model_load_s']} s, first job {cold['first_job_s']} s"
        + (f"; compile cache warm: first job {warm['first_job_s']} s" if warm else "")
    )
    oom, timeout = service["out_of_memory"], figures["step_timeout"]
    click.echo(
        f"out of memory ({oom['how']}): job {oom['state']} `{oom['error_code']}`, next job "
        f"{oom['next_job']}; runner memory after {oom['runner_memory_mib_after']} MiB"
    )
    click.echo(
        f"time-out (limit {timeout['limit_s']} s): job {timeout['state']} "
        f"`{timeout['error_code']}` after {timeout['ended_after_s']} s, next job "
        f"{timeout['next_job']}; runner memory after {timeout['runner_memory_mib_after']} MiB"
    )


def _check(figures: dict[str, Any]) -> None:
    """The faults must be classified and survived, or the run is a failure."""
    oom, timeout = figures["service"]["out_of_memory"], figures["step_timeout"]
    problems = []
    if (oom["state"], oom["error_code"], oom["next_job"]) != ("failed", "oom", "succeeded"):
        problems.append(f"out of memory: {oom}")
    if (timeout["state"], timeout["error_code"], timeout["next_job"]) != (
        "failed",
        "timeout",
        "succeeded",
    ):
        problems.append(f"time-out: {timeout}")
    if problems:
        raise click.ClickException("; ".join(problems))


def run_bench_gpu(quick: bool, images: int, work_dir: Path | None, json_out: Path | None) -> None:
    """`dreamforge bench gpu`: every part, one after another, then one report.

    It reads as the report's table of contents, one call per part, so it stays one function
    a few lines over the usual length."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":  # as many threads as the runner process takes
        from dreamforge_adapters.sdxl.cpu import default_cpu_threads

        torch.set_num_threads(default_cpu_threads())
    shape = Shape(1024, 1024, 30, images) if device == "cuda" else Shape(128, 128, 4, images)
    presets = _presets(device, quick)
    with tempfile.TemporaryDirectory(prefix="dreamforge-bench-gpu-", dir=work_dir) as tmp:
        data_dir = Path(tmp)
        model_id, folder, single = _model(data_dir, device, single_file=not quick)
        modes: dict[str, Any] = {"raw diffusers": raw_diffusers(folder, device, torch)}
        for name, runtime in presets.items():
            modes[f"preset {name}"] = our_preset(_spec(model_id, folder), runtime, device)
        results: dict[str, dict[str, Any]] = {}
        for name, load in modes.items():
            click.echo(f"timing {name} …", err=True)
            results[name] = time_pipeline(load, shape, torch, device)
        fastest = min(presets, key=lambda n: results[f"preset {n}"]["s_per_image"])
        if single is not None:
            load = our_preset(_spec(model_id, folder, single), presets[fastest], device)
            results[f"preset {fastest}, single-file load"] = time_pipeline(
                load, shape, torch, device
            )
        env = service_env(data_dir, model_id, data_dir / "compile-cache")
        click.echo(f"service path with preset {fastest} …", err=True)
        service = service_path(
            env, fastest, shape, device, torch, compiles=bool(presets[fastest].get("compile"))
        )
        # A plain preset, and a limit well past a cold first job (a runner process starting,
        # the load, one image), so that only the job made slow on purpose runs out of time.
        cold = service["cold_start_compile_cache_warm"] or service["cold_start"]
        limit_s = 1.5 * cold["first_job_s"] + 2
        timed_out = step_timeout(env, "quality", shape, limit_s)
    raw_s = results["raw diffusers"]["s_per_image"]
    figures = {
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else "CPU",
        "model": model_id,
        "quick": quick,
        "shape": {
            "width": shape.width,
            "height": shape.height,
            "steps": shape.steps,
            "images": shape.images,
        },
        "modes": results,
        "fastest_preset": fastest,
        "service": service,
        "service_over_raw": round(service["s_per_image"] / raw_s, 3),
        "service_over_preset": round(
            service["s_per_image"] / results[f"preset {fastest}"]["s_per_image"], 3
        ),
        "step_timeout": timed_out,
        "machine": machine_facts(),
        "torch": torch.__version__,
    }
    _echo(figures)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
    _check(figures)
