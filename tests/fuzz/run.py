"""`make fuzz`: Schemathesis against the production stack (api + worker processes, fake
runner, model_download jobs off) on the services the environment names; see
scripts/fuzz.sh, which provides them. Checks: every built-in check (no 5xx, statuses, content
types and bodies as the OpenAPI document says, ...), plus the hooks in tests/fuzz/hooks.py
(every 4xx/5xx body is the contract's envelope). Exits non-zero on any failure, or when the
stack's log shows an unhandled error.

Arguments: --max-examples N (per operation, default 20), --seed N, then any `st run` options.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from dreamforge_apps.benchmarks.stack_processes import started_stack

HERE = Path(__file__).resolve().parent


def schemathesis_command(
    url: str, max_examples: int, seed: int | None, extra: list[str]
) -> list[str]:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{url}/schema/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        # one worker: hypothesis' source inspection is not thread-safe on Python 3.11
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command + extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--seed", type=int)
    args, extra = parser.parse_known_args()
    with started_stack(
        "dreamforge-fuzz-",
        DREAMFORGE_MODEL_DOWNLOAD_JOBS="false",
        DREAMFORGE_FAKE_STEP_DELAY_S="0",
        DREAMFORGE_LOG_LEVEL="warning",
    ) as stack:
        print(f"migrate: {stack.migrate()}", flush=True)
        url = stack.start_api()
        stack.start_worker(0.0)
        print(f"stack: api at {url} + worker, fake runner, namespace {stack.namespace}", flush=True)
        began = time.monotonic()
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks"}
        command = schemathesis_command(url, args.max_examples, args.seed, extra)
        status = subprocess.run(command, env=env, check=False).returncode
        unhandled = [line for line in stack.log_lines() if "unhandled error" in line]
        for name, proc in (("api", stack.api), ("worker", stack.worker)):
            if proc is None or proc.poll() is not None:
                print(f"the {name} process died during the run")
                status = status or 1
        print(f"\nfuzz: {time.monotonic() - began:.0f} s; schemathesis exit status {status}")
        if unhandled:
            print(f"the stack logged {len(unhandled)} unhandled error(s), e.g. {unhandled[0]}")
            status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
