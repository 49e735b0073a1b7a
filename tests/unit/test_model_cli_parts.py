"""The download progress line and the source plug-in lookup of `dreamforge model download`."""

from __future__ import annotations

import io

from dreamforge_apps.cli.download_progress import DownloadProgressLine
from dreamforge_apps.settings import Settings
from dreamforge_apps.sources import load_sources

MIB = 1 << 20


def test_off_a_terminal_the_progress_line_prints_each_tenth_with_rate_and_eta() -> None:
    out = io.StringIO()  # not a tty: a line per tenth, no carriage returns
    line = DownloadProgressLine(out, interval_s=0.0)
    for done in range(0, 101 * MIB, MIB):
        line("model.safetensors", done, 100 * MIB)
    line.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert 10 <= len(lines) <= 13  # 0%, 10%, …, 100%, and the final redraw
    assert "100.0 MiB / 100.0 MiB (100%)" in lines[-1]
    assert "/s " in lines[1]  # a rate, in MiB/s or GiB/s
    assert "ETA" in lines[1]


def test_resumed_bytes_do_not_count_as_download_rate() -> None:
    out = io.StringIO()
    line = DownloadProgressLine(out, interval_s=0.0)
    line("big", 90 * MIB, 100 * MIB)  # 90 MiB were on disk from an earlier run
    line.finish()
    assert "0.0 MiB/s" in out.getvalue().splitlines()[-1]


def test_sources_come_from_the_entry_point_group_with_their_environment() -> None:
    env = {
        "HF_ENDPOINT": "http://hub.test",
        "HF_TOKEN": "hf-secret",
        "DREAMFORGE_CIVITAI_BASE_URL": "http://civitai.test",
    }
    sources = load_sources(Settings(), environ=env)
    assert set(sources) >= {"hf", "civitai"}
    assert sources["hf"].scheme == "hf"
    assert sources["civitai"].scheme == "civitai"
    assert "hf-secret" not in repr(sources["hf"])
    configs = load_sources(Settings(), environ=env, configs_only=True)
    assert set(configs) == {"hf"}  # CivitAI has no configs-only mode
