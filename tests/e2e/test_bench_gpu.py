"""`dreamforge bench gpu` without CUDA: the same code as on a GPU, on the tiny demo model, so the
command cannot rot before a GPU runs it. Every mode is timed, the service path runs, and both
faults are classified and survived."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_bench_gpu_runs_every_part_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    options = ("--quick", "--images", "2", "--work-dir", str(tmp_path))
    report, stdout = run_bench("gpu", *options, json_out=out, timeout=300)
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
    assert "service, preset" in stdout
    assert "job failed `timeout`" in stdout
    assert list(tmp_path.glob("dreamforge-bench-gpu-*")) == []  # the work folder is removed
