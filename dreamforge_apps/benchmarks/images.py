"""`dreamforge bench images`: time per image of what a job can ask for, on the demo model
through the service, in one run.

Rows: text-to-image, image-to-image at strength 0.5, inpainting, with one LoRA, with the
upscale step (factor 2), and with `preview_every=1`. Each row is a job of one image over HTTP
(POST to the stream's `end`); the rows alternate for several rounds and each row's median is
reported, so a passing load on the machine does not land on one row only. A warm-up job per
row comes first: model and LoRA loads are not timed. A row whose parameters the server does
not accept (422) is printed as "not available" with the server's reason: the rows are the
contract's, whichever of them this server implements. The preview row is also given as a
ratio to text-to-image (goal: at most 1.05): in each round the preview job runs right after
the text-to-image job, and the median of those pairs' ratios is the figure (a pair shares the
machine's load of the moment), beside the ratio of the two medians.

Besides wall time, each row has the CPU time the server and its runner process spent per
image (from /proc, Linux only): on a machine shared with other work, wall times swing with
the neighbours' load while CPU time stays the work the job itself cost, so the preview ratio
is given both ways.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.benchmarks.api import embedded_server
from dreamforge_apps.benchmarks.generate import install_demo
from dreamforge_apps.benchmarks.servers import job_to_end
from dreamforge_apps.client import ApiError, DreamForgeClient

LORA_ID = "demo-sdxl-tiny-lora"
PREVIEW_GOAL = 1.05
Inputs = dict[str, str]  # data URLs of the input image and mask


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    params: Callable[[Inputs, int], dict[str, Any]]  # (inputs, steps) -> its own params


ROWS = (
    Row("text-to-image", lambda i, s: {}),
    Row("image-to-image, strength 0.5", lambda i, s: {"init_image": i["image"], "strength": 0.5}),
    Row("inpainting", lambda i, s: {"init_image": i["image"], "mask_image": i["mask"]}),
    Row("with one LoRA", lambda i, s: {"loras": [{"model_id": LORA_ID, "scale": 1.0}]}),
    Row(
        "upscale factor 2",
        lambda i, s: {"upscale": {"factor": 2, "strength": 0.5, "steps": max(1, s // 2)}},
    ),
    Row("preview_every=1", lambda i, s: {"preview_every": 1}),
)
BASELINE, PREVIEWS = ROWS[0].name, ROWS[-1].name


@dataclass
class _Measured:
    times: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # server + runner CPU seconds
    runner_cpu: dict[str, list[float]] = field(default_factory=dict)  # the runner's share
    refused: dict[str, str] = field(default_factory=dict)  # row -> the server's reason
    previews: list[int] = field(default_factory=list)  # previews per timed preview job


def _png(width: int, height: int, colour: Callable[[int, int], int]) -> str:
    from PIL import Image

    image = Image.new("L", (width, height))
    image.putdata([colour(x, y) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _inputs(size: int) -> Inputs:
    """An input image (a gradient) and a mask whose right half is repainted."""
    return {
        "image": _png(size, size, lambda x, y: (x + y) * 255 // (2 * size)),
        "mask": _png(size, size, lambda x, y: 255 if x >= size // 2 else 0),
    }


def _refusal(error: ApiError) -> str:
    found = error.body.get("error", {}).get("details", {}).get("errors") or []
    reasons = [f"{e.get('field')}: {e.get('message')}" for e in found if isinstance(e, dict)]
    return "; ".join(reasons) or error.message


def _cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds of the processes so far; None where /proc cannot tell."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _processes(events: list[dict[str, Any]]) -> list[int]:
    """The runner process (named by its start note) and its parent, the server."""
    for event in events:
        found = re.search(r"runner process (\d+) ready", str(event.get("message", "")))
        if found:
            runner = int(found.group(1))
            try:
                parent = int(Path(f"/proc/{runner}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                return [runner]
            return [parent, runner]
    return []


def _job(client: DreamForgeClient, params: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    """One job to its end: seconds and events; raises ApiError when the server refuses it."""
    elapsed, final, events = job_to_end(client, params)
    if final["state"] != "succeeded":
        raise click.ClickException(f"bench job {final['state']}: {final.get('error')}")
    return elapsed, events


def _measure(client: DreamForgeClient, base: dict[str, Any], rounds: int) -> _Measured:
    got = _Measured()
    inputs = _inputs(int(base["width"]))
    params = {row.name: {**base, **row.params(inputs, int(base["steps"]))} for row in ROWS}
    pids: list[int] = []
    for row in ROWS:  # warm-up: loads (model, LoRA) and refusals, untimed
        try:
            events = _job(client, {**params[row.name], "seed": 0})[1]
            pids = pids or _processes(events)
        except ApiError as e:
            if e.status != 422:
                raise
            got.refused[row.name] = _refusal(e)
    # the preview job right after its baseline in every round: their ratio is taken per round
    order = [
        BASELINE,
        PREVIEWS,
        *(row.name for row in ROWS if row.name not in (BASELINE, PREVIEWS)),
    ]
    timed = [name for name in order if name not in got.refused]
    for n in range(rounds):
        for name in timed:
            cpu_before, runner_before = _cpu_seconds(pids), _cpu_seconds(pids[-1:])
            elapsed, events = _job(client, {**params[name], "seed": n + 1})
            cpu_after, runner_after = _cpu_seconds(pids), _cpu_seconds(pids[-1:])
            got.times.setdefault(name, []).append(elapsed)
            if cpu_before is not None and cpu_after is not None and pids:
                got.cpu.setdefault(name, []).append(cpu_after - cpu_before)
            if runner_before is not None and runner_after is not None and pids:
                got.runner_cpu.setdefault(name, []).append(runner_after - runner_before)
            if name == PREVIEWS:
                got.previews.append(sum(1 for e in events if "image" in e and "step" in e))
    return got


def _figures(base: dict[str, Any], rounds: int, got: _Measured) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    median = {name: statistics.median(times) for name, times in got.times.items()}
    cpu = {name: statistics.median(times) for name, times in got.cpu.items()}
    runner = {name: statistics.median(times) for name, times in got.runner_cpu.items()}
    for row in ROWS:
        if row.name in got.refused:
            rows[row.name] = {"available": False, "reason": got.refused[row.name]}
            continue
        rows[row.name] = {
            "available": True,
            "s_per_image": round(median[row.name], 4),
            "rounds_s": [round(t, 4) for t in got.times[row.name]],
            "vs_text_to_image": round(median[row.name] / median[BASELINE], 3),
            "cpu_s_per_image": round(cpu[row.name], 4) if row.name in cpu else None,
            "runner_cpu_s_per_image": round(runner[row.name], 4) if row.name in runner else None,
            "cpu_vs_text_to_image": (
                round(cpu[row.name] / cpu[BASELINE], 3)
                if row.name in cpu and cpu[BASELINE]
                else None
            ),
        }
    preview = rows[PREVIEWS]
    if preview["available"]:
        preview["previews_per_image"] = statistics.median(got.previews) if got.previews else 0
        pairs = zip(got.times[PREVIEWS], got.times[BASELINE], strict=True)
        preview["paired_ratio"] = round(statistics.median(p / b for p, b in pairs), 3)
    return {
        "model": "demo-sdxl-tiny (random weights)",
        "deployment": "embedded, sdxl runner",
        "params": base,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "rows": rows,
        "preview_ratio": preview.get("vs_text_to_image"),
        "preview_paired_ratio": preview.get("paired_ratio"),
        "preview_cpu_ratio": preview.get("cpu_vs_text_to_image"),
        "preview_goal": PREVIEW_GOAL,
    }


def _echo(figures: dict[str, Any]) -> None:
    p = figures["params"]
    click.echo(
        f"model demo-sdxl-tiny through the service ({figures['deployment']}), "
        f"{p['width']}x{p['height']}, {p['steps']} steps, {p['scheduler']}, one image per job, "
        f"median of {figures['rounds']} rounds, {figures['cpus']} CPUs"
    )
    for name, row in figures["rows"].items():
        if not row["available"]:
            click.echo(f"{name:30} not available ({row['reason']})")
            continue
        cpu = row["cpu_s_per_image"]
        runner = row["runner_cpu_s_per_image"]
        cpu_text = (
            f"  CPU {cpu:.2f} s x{row['cpu_vs_text_to_image']:.3f} (runner {runner:.2f} s)"
            if cpu
            else ""
        )
        click.echo(
            f"{name:30} {row['s_per_image']:.4f} s/image  x{row['vs_text_to_image']:.3f} "
            f"of text-to-image{cpu_text}  rounds {row['rounds_s']}"
        )
    ratio = figures["preview_ratio"]
    if ratio is not None:
        paired = figures["preview_paired_ratio"]
        verdict = "meets" if paired <= PREVIEW_GOAL else "misses"
        previews = figures["rows"][PREVIEWS]["previews_per_image"]
        cpu_ratio = figures["preview_cpu_ratio"]
        cpu_text = f", CPU time ratio {cpu_ratio:.3f}" if cpu_ratio else ""
        click.echo(
            f"preview_every=1 against none: wall time ratio {paired:.3f} as the median of each "
            f"round's pair ({verdict} the goal <= {PREVIEW_GOAL}), {ratio:.3f} of the medians"
            f"{cpu_text}, {previews} previews per image on the stream"
        )


def run_bench_images(
    size: int,
    steps: int,
    rounds: int,
    quick: bool,
    work_dir: Path | None,
    json_out: Path | None,
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if quick:
        size, steps, rounds = 64, 4, 1
    base = {
        "prompt": "bench: a lighthouse at dawn",
        "width": size,
        "height": size,
        "steps": steps,
        "guidance": 6.0,
        "scheduler": "dpmpp_2m_karras",
    }
    with tempfile.TemporaryDirectory(prefix="dreamforge-bench-images-") as tmp:
        data_dir = work_dir or Path(tmp)
        install_demo(data_dir)  # reuses an intact demo build already under data_dir/models
        env = {
            "DREAMFORGE_RUNNER": "sdxl",
            "DREAMFORGE_DATA_DIR": str(data_dir),
            "DREAMFORGE_DEFAULT_MODEL": "demo-sdxl-tiny",
            "HF_HUB_OFFLINE": "1",
        }
        with embedded_server(env) as url:
            client = DreamForgeClient(url, timeout=600)
            try:
                figures = _figures(base, rounds, _measure(client, base, rounds))
            finally:
                client.close()
    _echo(figures)
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2))
