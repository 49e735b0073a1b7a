"""`dreamforge bench limits` starts a server with the limits off and one with them on, loads
each, and prints and writes the throughput of both and their ratio."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_bench_limits_measures_both_servers_and_their_ratio(tmp_path: Path) -> None:
    out = tmp_path / "limits.json"
    report, stdout = run_bench("limits", "--requests", "60", "--rounds", "1", json_out=out)
    lines = stdout.splitlines()
    assert any("limits off" in line for line in lines)
    assert any("limits on" in line for line in lines)
    assert report["limits"] == ["per-minute", "active"]
    off, on = report["runs"]["off"][0], report["runs"]["on"][0]
    assert off["creations_per_s"] > 0
    assert on["creations_per_s"] > 0
    assert report["ratio"] == round(on["creations_per_s"] / off["creations_per_s"], 3)
    assert f"on/off {report['ratio']}" in lines[-1]
