"""`dreamforge bench webhooks` times deliveries to a local receiver and checks that one failing
its first three answers gets each event exactly once; it prints and writes both."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench


def test_bench_webhooks_times_deliveries_and_checks_a_failing_receiver(tmp_path: Path) -> None:
    out = tmp_path / "webhooks.json"
    options = ("--deployment", "embedded", "--jobs", "5", "--failing-jobs", "2")
    report, stdout = run_bench("webhooks", *options, "--retry-base", "0.05", json_out=out)
    assert report["jobs"] == 5
    assert 0 < report["end_to_2xx_p50_ms"] <= report["end_to_2xx_p99_ms"]
    failing = report["failing_receiver"]
    assert failing["events"] == 2
    assert failing["accepted_once"] is True
    assert failing["attempts_per_event"] == 4
    assert f"p50 {report['end_to_2xx_p50_ms']} ms" in stdout
    assert "each accepted exactly once after 4 attempts" in stdout
