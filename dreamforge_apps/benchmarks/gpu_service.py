"""The whole service path for `dreamforge bench gpu`: `dreamforge serve` with the SDXL runner
on the benchmark's model, jobs over HTTP, and the two faults a GPU service must survive.

- cold start: server start to `/health`, then the first job (model load, and with a compile
  preset the compile), and the same again on a restarted server whose compile cache is warm;
- steady state: one job of `images` images, POST to the stream's `end`, per image;
- out of memory: on CUDA this process holds all but 256 MiB of the device while a job runs,
  so the runner really runs out (elsewhere the runner's test marker `[[oom]]` stands in); the
  job must fail `oom`, and the next job must succeed with memory back where it started;
- time-out: a server whose attempts may last a little longer than a cold first image runs a
  job made slow on purpose (`[[slow:S]]`, S seconds per step, past that limit); it must fail
  `timeout`, the runner is killed and a fresh one serves the next job.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import httpx

from dreamforge_apps.benchmarks.api import embedded_server
from dreamforge_apps.benchmarks.gpu_inprocess import Shape
from dreamforge_apps.benchmarks.servers import job_to_end
from dreamforge_apps.client import DreamForgeClient

_MEMORY = re.compile(r'^dreamforge_runner_memory_bytes\{kind="(\w+)",phase="(\w+)"\} (\S+)$', re.M)


def _runner_memory(url: str) -> dict[str, float]:
    """The runner's memory of its last item, MiB by phase, from the metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        f"{kind}_{phase}": round(float(v) / 2**20, 1) for kind, phase, v in _MEMORY.findall(text)
    }


@contextmanager
def _server(env: dict[str, str]) -> Iterator[tuple[str, float]]:
    started = time.perf_counter()
    with embedded_server(env) as url:
        yield url, time.perf_counter() - started


def _params(preset: str | None, shape: Shape, **more: Any) -> dict[str, Any]:
    params = {
        "prompt": "bench: a lighthouse at dawn",
        "width": shape.width,
        "height": shape.height,
        "steps": shape.steps,
        **more,
    }
    return params | ({"preset": preset} if preset else {})


def _cold(env: dict[str, str], preset: str | None, shape: Shape) -> dict[str, Any]:
    with _server(env) as (url, ready_s):
        client = DreamForgeClient(url, timeout=1800)
        first_s, final, events = job_to_end(client, _params(preset, shape, count=1))
        client.close()
    if final["state"] != "succeeded":
        raise click.ClickException(f"first service job {final['state']}: {final.get('error')}")
    load = [float(e.get("seconds") or 0) for e in events if e.get("code") == "model_loaded"]
    return {
        "server_ready_s": round(ready_s, 2),
        "model_load_s": round(load[0], 2) if load else None,
        "first_job_s": round(first_s, 2),
    }


def service_path(
    env: dict[str, str],
    preset: str | None,
    shape: Shape,
    device: str,
    torch: Any,
    *,
    compiles: bool,
) -> dict[str, Any]:
    """Cold starts, the steady state and the out-of-memory case, on one model and preset."""
    cold = _cold(env, preset, shape)
    # A compile preset again on a restarted server: its compile cache is on disk now.
    warm_cache = _cold(env, preset, shape) if compiles else None
    with _server(env) as (url, _):
        client = DreamForgeClient(url, timeout=1800)
        job_to_end(client, _params(preset, shape, count=1))  # loads, and compiles where it does
        baseline = _runner_memory(url)
        elapsed, final, _ = job_to_end(client, _params(preset, shape, count=shape.images))
        if final["state"] != "succeeded":
            raise click.ClickException(f"service job {final['state']}: {final.get('error')}")
        after_job = _runner_memory(url)
        oom = _out_of_memory(client, url, preset, shape, device, torch)
        client.close()
    return {
        "preset": preset,
        "cold_start": cold,
        "cold_start_compile_cache_warm": warm_cache,
        "s_per_image": round(elapsed / shape.images, 3),
        "images": shape.images,
        "runner_memory_mib": {"after_warm_up": baseline, "after_job": after_job},
        "out_of_memory": oom,
    }


@contextmanager
def _device_held(device: str, torch: Any) -> Iterator[str]:
    """On CUDA: holds all but 256 MiB of the device from this process; the prompt marker the
    runner needs besides (none on CUDA, where the shortage is real)."""
    if device != "cuda":
        yield "[[oom]] "
        return
    free, _ = torch.cuda.mem_get_info()
    held = torch.empty(max(0, free - 256 * 2**20), dtype=torch.uint8, device="cuda")
    try:
        yield ""
    finally:
        del held
        torch.cuda.empty_cache()


def _out_of_memory(
    client: DreamForgeClient, url: str, preset: str | None, shape: Shape, device: str, torch: Any
) -> dict[str, Any]:
    with _device_held(device, torch) as marker:
        _, failed, _ = job_to_end(
            client, _params(preset, shape, count=1, prompt=f"{marker}bench: out of memory")
        )
    _, after, _ = job_to_end(client, _params(preset, shape, count=1))
    return {
        "how": "real: this process held the device" if device == "cuda" else "simulated ([[oom]])",
        "state": failed["state"],
        "error_code": (failed.get("error") or {}).get("code"),
        "next_job": after["state"],
        "runner_memory_mib_after": _runner_memory(url),
    }


def step_timeout(
    env: dict[str, str], preset: str | None, shape: Shape, limit_s: float
) -> dict[str, Any]:
    """A job slower than the attempt's time limit: `timeout`, then a fresh runner serves."""
    limited = {**env, "DREAMFORGE_STEP_TIMEOUT_S": f"{limit_s:.1f}"}
    per_step = 2 * limit_s / shape.steps  # twice the limit over the whole job
    with _server(limited) as (url, _):
        client = DreamForgeClient(url, timeout=600)
        slow = _params(preset, shape, count=1, prompt=f"[[slow:{per_step:.2f}]] bench: too slow")
        took, failed, _ = job_to_end(client, slow)
        quick = _params(preset, Shape(shape.width, shape.height, 2, 1), count=1)
        _, after, _ = job_to_end(client, quick)
        memory = _runner_memory(url)
        client.close()
    return {
        "limit_s": round(limit_s, 1),
        "state": failed["state"],
        "error_code": (failed.get("error") or {}).get("code"),
        "ended_after_s": round(took, 2),
        "next_job": after["state"],
        "runner_memory_mib_after": memory,
    }


def service_env(data_dir: Path, model_id: str, compile_cache: Path) -> dict[str, str]:
    return {
        "DREAMFORGE_RUNNER": "sdxl",
        "DREAMFORGE_DATA_DIR": str(data_dir),
        "DREAMFORGE_DEFAULT_MODEL": model_id,
        "DREAMFORGE_MAX_ATTEMPTS": "1",  # a fault shows as the job's failure, not a retry
        "DREAMFORGE_RUNNER_TEST_HOOKS": "true",  # `[[slow:S]]`, and `[[oom]]` without CUDA
        "DREAMFORGE_COMPILE_CACHE_DIR": str(compile_cache),
        "HF_HUB_OFFLINE": "1",
    }
