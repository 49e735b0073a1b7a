"""`dreamforge bench images --quick`: the command runs on the demo model through the service
and reports every row, timed or "not available" with the server's reason, so it cannot rot
while the rows it times land."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import run_bench
from tests.support.demo import create_demo

TIMED_HERE = ("text-to-image", "with one LoRA", "preview_every=1")
ROWS = (
    "text-to-image",
    "image-to-image, strength 0.5",
    "inpainting",
    "with one LoRA",
    "upscale factor 2",
    "preview_every=1",
)


def test_bench_images_quick_reports_every_row(tmp_path: Path) -> None:
    create_demo(tmp_path)  # the run's demo build, reused by the bench
    out = tmp_path / "images.json"
    report, stdout = run_bench(
        "images", "--quick", "--work-dir", str(tmp_path), json_out=out, timeout=300
    )
    assert tuple(report["rows"]) == ROWS
    for name, row in report["rows"].items():
        if row["available"]:
            assert row["s_per_image"] > 0
            assert row["vs_text_to_image"] > 0
            assert f"{name:30} {row['s_per_image']:.4f} s/image" in stdout
        else:
            assert name not in TIMED_HERE
            assert "params." in row["reason"]
            assert f"{name:30} not available (" in stdout
    for name in TIMED_HERE:
        assert report["rows"][name]["available"], name
    assert report["rows"]["preview_every=1"]["previews_per_image"] >= 1
    assert report["preview_ratio"] > 0
    assert report["preview_paired_ratio"] > 0
    assert "preview_every=1 against none: wall time ratio" in stdout
