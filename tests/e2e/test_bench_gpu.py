"""`dreamforge bench gpu` without CUDA: the same code as on a GPU, on the tiny demo model, so the
command cannot rot before a GPU runs it. Every mode is timed, the service path runs, and both
faults are classified and survived."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_gpu_runs_every_part_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "dreamforge_apps.cli", "bench", "gpu", "--quick",
            "--images", "2", "--work-dir", str(tmp_path), "--json-out", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu"
    assert report["model"] == "demo-sdxl-tiny"
    assert set(report["modes"]) == {"raw diffusers", "preset quality", "preset cpu"}
    for mode in report["modes"].values():
        assert mode["images"] == 2
        assert mode["s_per_image"] > 0
        assert abs(mode["it_per_s"] * mode["s_per_image"] - 4) < 0.05  # 4 steps per image
        assert mode["memory_mib"]["peak"] >= mode["memory_mib"]["start"] > 0
    service = report["service"]
    assert service["preset"] == report["fastest_preset"]
    assert service["s_per_image"] > 0
    assert service["cold_start"]["model_load_s"] > 0
    assert service["cold_start_compile_cache_warm"] is None  # nothing compiles on a CPU
    oom = service["out_of_memory"]
    assert (oom["state"], oom["error_code"], oom["next_job"]) == ("failed", "oom", "succeeded")
    timed_out = report["step_timeout"]
    assert (timed_out["state"], timed_out["error_code"]) == ("failed", "timeout")
    assert timed_out["next_job"] == "succeeded"
    assert timed_out["ended_after_s"] < 2 * timed_out["limit_s"]  # cut at the limit
    assert "service, preset" in done.stdout
    assert "job failed `timeout`" in done.stdout
    assert list(tmp_path.glob("dreamforge-bench-gpu-*")) == []  # the work folder is removed
