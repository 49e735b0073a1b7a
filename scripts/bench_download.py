"""Download benchmark: the model fetcher against huggingface_hub on one local server and file.

Measures two things the model downloader promises:

1. Throughput. `hf_hub_download` (huggingface_hub's plain HTTP path, Xet off) and Dream Forge's
   `Fetcher` download the same LFS file from the same `FakeHub` on loopback, in alternating
   rounds (hf, ours, hf, ours, ...), each into a fresh folder, timed by wall clock. The ratio
   of the medians, ours / hf, should be at least 0.95 although ours hashes every byte while it
   streams (and fsyncs the file before renaming it into place).
2. Bytes re-fetched after a kill. A child process fetches the file from a throttled server and
   is SIGKILLed once its `.part` file holds 40 % of it; a second fetch then finishes the job.
   Everything the server sent beyond one copy of the file was fetched twice; the goal is at
   most one chunk (the fetcher's `chunk_bytes`). The same is done with `hf_hub_download` for
   contrast.

By default the server runs in a forked child process, so its threads do not compete with the
client for the GIL; `--no-server-process` runs it in this process instead. The exit status is
0 whatever the figures: this is a measurement, not a test.

    make bench-download
    make bench-download ARGS="--size-mib 256 --rounds 5 --json-out bench.json"
    .venv/bin/python scripts/bench_download.py --help

It is one file because it is a script run on its own: the server, the throughput rounds and
the kill test share its helpers and constants, and nothing else imports them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPO = "bench/model"
WARM_REPO = "bench/warm-up"
FILE = "model.safetensors"
KEY = f"{REPO}/{FILE}"  # the server's name for the file in bytes_sent
RANGE_PATH = f"/{REPO}/resolve/"  # what range_starts matches in request paths
MB = 1_000_000
MIB = 1 << 20
KILL_AT = 0.4  # share of the file on disk when the child is killed

HF_ENV = {
    "HF_HUB_DISABLE_XET": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
}

# Fetches the file with our Fetcher; killed mid-file by the parent.
CHILD_OURS = """
import sys
from pathlib import Path
from dreamforge_adapters.model_sources.fetch import Fetcher, RemoteFile
url, folder, size, sha256, chunk = sys.argv[1:]
with Fetcher(chunk_bytes=int(chunk)) as fetcher:
    fetcher.fetch(RemoteFile(url, "model.safetensors", int(size), sha256), Path(folder))
"""

# The same with huggingface_hub, into a cache folder.
CHILD_HF = """
import sys
from huggingface_hub import hf_hub_download
endpoint, repo, folder = sys.argv[1:]
hf_hub_download(repo, "model.safetensors", endpoint=endpoint, cache_dir=folder, token=False)
"""


# --- the server, here or in a child process --------------------------------------------------

# What the benchmark asks of the server; the same calls work in-process and over the pipe.
OPS: dict[str, Callable[..., Any]] = {
    "throttle": lambda hub, rate: hub.throttle(rate),
    "range_starts": lambda hub, substring: hub.range_starts(substring),
    "bytes_sent": lambda hub, key: hub.bytes_sent[key],
}


def _load(hub: Any, data: bytes, warm: bytes) -> str:
    hub.add_hf_repo(WARM_REPO, {FILE: warm})
    return str(hub.add_hf_repo(REPO, {FILE: data}))


def _serve(conn: Any, data: bytes, warm: bytes) -> None:
    """Child process: the hub, answering OPS requests until the pipe closes."""
    from tests.support.fake_hub import FakeHub

    with FakeHub() as hub:
        commit = _load(hub, data, warm)
        conn.send((hub.url, commit))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break
            if message is None:
                break
            name, args = message
            try:
                conn.send((True, OPS[name](hub, *args)))
            except Exception as exc:
                conn.send((False, repr(exc)))


class Server:
    """A FakeHub holding the benchmark's file, in this process or in a forked child."""

    def __init__(self, data: bytes, warm: bytes, *, in_child: bool) -> None:
        self.in_child = in_child
        self._hub: Any = None
        self._conn: Any = None
        self._process: Any = None
        if in_child:
            ctx = multiprocessing.get_context("fork")  # the child inherits `data`, no copy
            self._conn, child_end = ctx.Pipe()
            self._process = ctx.Process(
                target=_serve, args=(child_end, data, warm), name="fake-hub", daemon=True
            )
            self._process.start()
            child_end.close()
            self.url, self.commit = self._conn.recv()
        else:
            from tests.support.fake_hub import FakeHub

            self._hub = FakeHub().start()
            self.commit = _load(self._hub, data, warm)
            self.url = self._hub.url

    def op(self, name: str, *args: Any) -> Any:
        if self._hub is not None:
            return OPS[name](self._hub, *args)
        self._conn.send((name, args))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"server: {value}")
        return value

    def hf_url(self, repo: str = REPO) -> str:
        return f"{self.url}/{repo}/resolve/main/{FILE}"

    def close(self) -> None:
        if self._hub is not None:
            self._hub.stop()
        if self._process is not None:
            self._conn.send(None)
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()


# --- machine and helpers ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "huggingface_hub": installed("huggingface_hub"),
        "httpx2": installed("httpx2"),  # huggingface_hub's HTTP client
        "httpx": installed("httpx"),  # the Fetcher's
    }


def make_content(size: int) -> bytes:
    """Random-looking bytes, quick to make: a random block of odd length, repeated."""
    block = os.urandom(1_000_003)
    return (block * (size // len(block) + 1))[:size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 * MIB):
            hasher.update(block)
    return hasher.hexdigest()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class FsyncTimer:
    """Adds up the time spent in os.fsync while installed: the durability the fetcher pays."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = os.fsync

        def timed(fd: Any) -> None:
            began = time.perf_counter()
            try:
                original(fd)
            finally:
                self.seconds += time.perf_counter() - began

        os.fsync = timed
        try:
            yield
        finally:
            os.fsync = original


def mb_s(n_bytes: int, seconds: float) -> float:
    return n_bytes / MB / seconds if seconds > 0 else float("inf")


def verdict(met: bool) -> str:
    return "goal met" if met else "goal missed"


# --- throughput ------------------------------------------------------------------------------


def throughput(
    server: Server, size: int, expected: str, rounds: int, chunk: int, base: Path
) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    from dreamforge_adapters.model_sources.fetch import Fetcher, RemoteFile

    target = RemoteFile(server.hf_url(), FILE, size, expected)
    fsync = FsyncTimer()
    with Fetcher(chunk_bytes=chunk) as fetcher:

        def hf(folder: Path) -> Path:
            path = hf_hub_download(REPO, FILE, endpoint=server.url, cache_dir=folder, token=False)
            return Path(path)

        def ours(folder: Path) -> Path:
            got = fetcher.fetch(target, folder)
            assert got.sha256 == expected, "the fetcher returned a different sha256"
            assert (got.size, got.resumed_from, got.fetched_bytes) == (size, 0, size)
            return got.path

        # One small untimed download each: imports, connection pools and first-call costs.
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            hf_hub_download(WARM_REPO, FILE, endpoint=server.url, cache_dir=tmp, token=False)
            warm = server.op("bytes_sent", f"{WARM_REPO}/{FILE}")
            fetcher.fetch(RemoteFile(server.hf_url(WARM_REPO), FILE, warm), Path(tmp, "ours"))

        results: dict[str, list[dict[str, float]]] = {"hf": [], "ours": []}
        for n in range(1, rounds + 1):
            for who, download in (("hf", hf), ("ours", ours)):
                folder = Path(tempfile.mkdtemp(dir=base, prefix=f"{who}-{n}-"))
                row = timed_download(server, who, download, folder, size, expected, fsync)
                results[who].append(row)
                print(
                    f"  round {n}  {who:<4}  {row['mb_s']:8.1f} MB/s  {row['seconds']:6.2f} s"
                    f"  cpu {row['cpu_s']:5.2f} s  fsync {row['fsync_s']:5.2f} s",
                    flush=True,
                )
    return throughput_summary(results, size)


def timed_download(
    server: Server,
    who: str,
    download: Callable[[Path], Path],
    folder: Path,
    size: int,
    expected: str,
    fsync: FsyncTimer,
) -> dict[str, float]:
    """One download into `folder`, timed; its bytes are checked afterwards and removed."""
    fsync.seconds = 0.0
    sent = server.op("bytes_sent", KEY)
    cpu, began = cpu_seconds(), time.perf_counter()
    with fsync.installed():
        path = download(folder)
    seconds = time.perf_counter() - began
    cpu = cpu_seconds() - cpu
    sent = server.op("bytes_sent", KEY) - sent
    # Outside the timing: the bytes on disk are the file, for both clients.
    assert path.stat().st_size == size, f"{who}: wrong size on disk"
    assert sent == size, f"{who}: the server sent {sent} bytes"
    assert file_sha256(path) == expected, f"{who}: wrong bytes on disk"
    shutil.rmtree(folder)
    return {"seconds": seconds, "mb_s": mb_s(size, seconds), "cpu_s": cpu, "fsync_s": fsync.seconds}


def throughput_summary(results: dict[str, list[dict[str, float]]], size: int) -> dict[str, Any]:
    """Each client's medians, and the ratio of ours to hf against the goal."""
    summary: dict[str, Any] = {"rounds": results}
    for who in ("hf", "ours"):
        summary[f"{who}_median_mb_s"] = statistics.median(r["mb_s"] for r in results[who])
        summary[f"{who}_median_cpu_s"] = statistics.median(r["cpu_s"] for r in results[who])
        summary[f"{who}_median_fsync_s"] = statistics.median(r["fsync_s"] for r in results[who])
    summary["ratio"] = summary["ours_median_mb_s"] / summary["hf_median_mb_s"]
    without_fsync = [mb_s(size, r["seconds"] - r["fsync_s"]) for r in results["ours"]]
    summary["ours_median_mb_s_without_fsync"] = statistics.median(without_fsync)
    summary["goal"] = 0.95
    summary["goal_met"] = summary["ratio"] >= 0.95
    return summary


# --- kill and resume -------------------------------------------------------------------------


def kill_mid_file(
    server: Server,
    size: int,
    rate: float,
    command: list[str],
    env: dict[str, str],
    partial_size: Callable[[], int],
    jitter_bytes: int,
) -> dict[str, Any] | str:
    """Starts `command`, SIGKILLs it once `partial_size()` reaches KILL_AT of the file.

    After the threshold it waits a random share of `jitter_bytes / rate`, so the kill does not
    always land just after a write. Returns the figures, or why there are none.
    """
    sent_before = server.op("bytes_sent", KEY)
    server.op("throttle", rate)
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30 + size / rate * 2
        while partial_size() < KILL_AT * size:
            if child.poll() is not None:
                return f"the child ended (status {child.returncode}) before it was killed"
            if time.monotonic() > deadline:
                return "the child made no progress"
            time.sleep(0.005)
        time.sleep(random.uniform(0, jitter_bytes / rate))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    server.op("throttle", None)
    time.sleep(0.2)  # the server's writer notices the closed connection
    return {
        "killed_by": "SIGKILL" if child.returncode == -signal.SIGKILL else str(child.returncode),
        "partial_bytes": partial_size(),
        "sent_before_kill": server.op("bytes_sent", KEY) - sent_before,
        "sent_before": sent_before,
    }


def kill_ours(
    server: Server, size: int, expected: str, chunk: int, rate: float, base: Path
) -> dict[str, Any]:
    from dreamforge_adapters.model_sources.fetch import Fetcher, RemoteFile

    folder = Path(tempfile.mkdtemp(dir=base, prefix="kill-ours-"))
    part = folder / f"{FILE}.part"
    url = server.hf_url()
    command = [sys.executable, "-c", CHILD_OURS, url, str(folder), str(size), expected, str(chunk)]

    def partial() -> int:
        try:
            return part.stat().st_size
        except FileNotFoundError:
            return 0

    killed = kill_mid_file(server, size, rate, command, dict(os.environ), partial, chunk)
    if isinstance(killed, str):
        return {"error": killed}
    starts = len(server.op("range_starts", RANGE_PATH))
    began = time.perf_counter()
    with Fetcher(chunk_bytes=chunk) as fetcher:
        got = fetcher.fetch(RemoteFile(url, FILE, size, expected), folder)
    seconds = time.perf_counter() - began
    assert got.sha256 == expected
    total_sent = server.op("bytes_sent", KEY) - killed.pop("sent_before")
    partial_bytes = killed["partial_bytes"]
    result = {
        **killed,
        "chunk_bytes": chunk,
        "range_starts": server.op("range_starts", RANGE_PATH)[starts:],
        "resumed_from": got.resumed_from,
        "second_run_bytes": got.fetched_bytes,
        "second_run_seconds": seconds,
        # What the second run asked for beyond the missing tail: 0 when it resumes exactly.
        "second_run_overlap": got.fetched_bytes - (size - partial_bytes),
        # Everything sent beyond one copy: received by the killed child but not on disk yet.
        "refetched_bytes": total_sent - size,
    }
    result["goal_met"] = result["refetched_bytes"] <= chunk
    shutil.rmtree(folder)
    return result


def kill_hf(server: Server, size: int, expected: str, rate: float, base: Path) -> dict[str, Any]:
    from huggingface_hub import constants, hf_hub_download

    folder = Path(tempfile.mkdtemp(dir=base, prefix="kill-hf-"))
    command = [sys.executable, "-c", CHILD_HF, server.url, REPO, str(folder)]

    def partial() -> int:
        return max((p.stat().st_size for p in folder.rglob("*.incomplete")), default=0)

    chunk = constants.DOWNLOAD_CHUNK_SIZE
    killed = kill_mid_file(server, size, rate, command, dict(os.environ), partial, chunk)
    if isinstance(killed, str):
        return {"error": killed}
    starts = len(server.op("range_starts", RANGE_PATH))
    sent = server.op("bytes_sent", KEY)
    began = time.perf_counter()
    path = Path(hf_hub_download(REPO, FILE, endpoint=server.url, cache_dir=folder, token=False))
    seconds = time.perf_counter() - began
    assert file_sha256(path) == expected
    total_sent = server.op("bytes_sent", KEY) - killed.pop("sent_before")
    result = {
        **killed,
        "chunk_bytes": chunk,
        "range_starts": server.op("range_starts", RANGE_PATH)[starts:],
        "second_run_bytes": server.op("bytes_sent", KEY) - sent,
        "second_run_seconds": seconds,
        "refetched_bytes": total_sent - size,
        "stale_incomplete_files": len(list(folder.rglob("*.incomplete"))),
    }
    shutil.rmtree(folder)
    return result


# --- report ----------------------------------------------------------------------------------


def print_kill(title: str, r: dict[str, Any], size: int, goal: bool) -> None:
    print(f"\n{title}")
    if "error" in r:
        print(f"  not measured: {r['error']}")
        return
    partial = r["partial_bytes"]
    print(f"  killed by {r['killed_by']} with {partial:,} bytes on disk ({partial / size:.1%})")
    print(f"  server had sent {r['sent_before_kill']:,} bytes by then")
    starts = ", ".join(f"{s:,}" for s in r["range_starts"]) or "none (started from byte 0)"
    print(f"  second run: Range start(s) {starts}")
    print(
        f"  second run received {r['second_run_bytes']:,} bytes in {r['second_run_seconds']:.2f} s"
    )
    if "second_run_overlap" in r:
        print(
            f"  overlap with the partial file: {r['second_run_overlap']:,} bytes"
            f" (second run received - (size - partial))"
        )
    if "stale_incomplete_files" in r:
        print(f"  .incomplete files left in the cache afterwards: {r['stale_incomplete_files']}")
    refetched, chunk = r["refetched_bytes"], r["chunk_bytes"]
    line = (
        f"  bytes re-fetched (sent over both runs - size): {refetched:,}"
        f" = {refetched / MIB:.2f} MiB; chunk {chunk / MIB:g} MiB"
    )
    if goal:
        line += f" (goal <= one chunk): {verdict(r['goal_met'])}"
    print(line)


def print_throughput(tp: dict[str, Any], server_process: bool) -> None:
    print(
        f"  median: hf_hub_download {tp['hf_median_mb_s']:.1f} MB/s,"
        f" ours {tp['ours_median_mb_s']:.1f} MB/s"
        f" ({tp['ours_median_mb_s_without_fsync']:.1f} MB/s without its fsync)"
    )
    whose = "client only" if server_process else "client and server threads"
    print(
        f"  median cpu per download ({whose}): hf {tp['hf_median_cpu_s']:.2f} s,"
        f" ours {tp['ours_median_cpu_s']:.2f} s"
    )
    print(f"  ratio ours/hf: {tp['ratio']:.3f} (goal >= 0.95): {verdict(tp['goal_met'])}")
    print(
        "  note: ours verifies sha256 in the stream and fsyncs the file before the rename;"
        "\n  hf_hub_download (huggingface_hub 2.4, plain HTTP) checks only the size of what"
        "\n  it downloaded: it hashes nothing (sha256 is used only to recognise a file already"
        "\n  in a local_dir) and does not fsync. Every download here was hashed afterwards,"
        "\n  outside the timing, and matched. hf also sends a HEAD for metadata first."
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=512, help="file size (default 512)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per client (default 3)")
    parser.add_argument("--chunk-mib", type=float, default=1, help="Fetcher chunk (default 1)")
    parser.add_argument(
        "--server-process",
        action=argparse.BooleanOptionalAction,
        default=sys.platform == "linux",
        help="serve from a forked child process (default on Linux)",
    )
    parser.add_argument(
        "--kill-rate-mb-s", type=float, default=50, help="throttle for the kill test (default 50)"
    )
    parser.add_argument("--no-hf-kill", action="store_true", help="skip the hf kill contrast")
    parser.add_argument("--json-out", type=Path, help="also write the figures here as JSON")
    return parser.parse_args(argv)


def print_header(args: argparse.Namespace, chunk: int) -> dict[str, Any]:
    """Prints what is measured, where and how; returns the report's opening fields."""
    info = machine()
    command = shlex.join([sys.executable, *sys.argv])
    setup = (
        "server in a forked child process"
        if args.server_process
        else "server threads in the benchmark's process (they share its GIL)"
    )
    print("Dream Forge download benchmark")
    print(f"  command: {command}")
    print(f"  machine: {info['cores']} cores, {info['cpu']}, {info['platform']}")
    print(
        f"  python {info['python']}, huggingface_hub {info['huggingface_hub']}"
        f" (httpx2 {info['httpx2']}), Fetcher on httpx {info['httpx']}"
    )
    print(f"  file: {args.size_mib} MiB LFS file {KEY}; Fetcher chunk {chunk:,} bytes")
    print(f"  setup: FakeHub on loopback, {setup}; MB = 10^6 bytes")
    return {
        "command": command,
        "machine": info,
        "setup": setup,
        "server_process": args.server_process,
        "size_bytes": args.size_mib * MIB,
        "chunk_bytes": chunk,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    os.environ.pop("HF_HUB_OFFLINE", None)
    os.environ.update(HF_ENV)  # read by huggingface_hub at import, in this process and children
    size = args.size_mib * MIB
    chunk = int(args.chunk_mib * MIB)
    rate = args.kill_rate_mb_s * MB
    sys.path.insert(0, str(ROOT))  # tests.support.fake_hub

    report = print_header(args, chunk)
    began = time.perf_counter()
    data = make_content(size)
    expected = report["sha256"] = sha256(data)
    server = Server(data, make_content(MIB), in_child=args.server_process)
    del data  # the server holds its own reference (or copy)
    base = Path(tempfile.mkdtemp(prefix="dreamforge-bench-"))
    print(f"  downloads go to {base} (fresh folder per download)")
    try:
        print(f"\nThroughput, {args.rounds} alternating rounds (wall clock per download)")
        tp = throughput(server, size, expected, args.rounds, chunk, base)
        report["throughput"] = tp
        print_throughput(tp, args.server_process)

        print(f"\nKill and resume: server throttled to {args.kill_rate_mb_s:g} MB/s until the kill")
        ours = kill_ours(server, size, expected, chunk, rate, base)
        report["kill_ours"] = ours
        print_kill("  ours (Fetcher), killed child then a fresh Fetcher", ours, size, goal=True)
        if not args.no_hf_kill:
            hf = kill_hf(server, size, expected, rate, base)
            report["kill_hf"] = hf
            print_kill("  hf_hub_download, killed child then a rerun (contrast)", hf, size, False)
    finally:
        server.close()
        shutil.rmtree(base, ignore_errors=True)
    report["total_seconds"] = time.perf_counter() - began
    print(f"\ntotal {report['total_seconds']:.1f} s")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"figures written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
