"""Every curl example of docs/api.md runs as written against a live `dreamforge serve`.

The ```sh blocks that call curl run in page order in bash, each seeing the variables the ones
before it set (`JOB`, `URL`), with the documented address replaced by the live server's. A
`curl` function reports each response's status on stderr: every status must be 2xx, except
the last of a block whose documented output shows an error (an `HTTP/1.1 4xx` line or an error
envelope). Where the output is shown, the real one must have its shape: the JSON keys, SSE
event names, header names and metric names the page shows. The fake runner finishes the job
quickly; the test waits for it to finish after the block that creates it, as a reader would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerProcess
from tests.support.loras import import_lora

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = "http://127.0.0.1:8000"
STATUS = "DOCS-EXAMPLE-STATUS"
ERROR_STATUS = {
    "invalid_input": 422,
    "not_found": 404,
    "forbidden": 403,
    "unauthorized": 401,
    "invalid_state": 409,
}
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
# Stands in for jq where it is not installed: `jq -r PATH` with PATH like `.items[0].url`.
_JQ_SHIM = """import json, re, sys
value = json.load(sys.stdin)
for key, index in re.findall(r"\\.(\\w+)|\\[(\\d+)\\]", sys.argv[-1]):
    value = value[key] if key else value[int(index)]
print(value if isinstance(value, str) else json.dumps(value))
"""


@dataclass(frozen=True)
class Example:
    line: int
    script: str
    output: str | None  # the block shown right after it, if any

    @property
    def expected_error(self) -> int | None:
        if self.output is None:
            return None
        status = re.search(r"^HTTP/1\.1 (\d{3})", self.output, re.M)
        if status and not status.group(1).startswith("2"):
            return int(status.group(1))
        envelope = re.match(r'\s*\{"error":\s*\{"code":\s*"(\w+)"', self.output)
        return ERROR_STATUS[envelope.group(1)] if envelope else None


def examples(path: Path) -> list[Example]:
    text = path.read_text()
    fences = list(_FENCE.finditer(text))
    found = []
    for n, fence in enumerate(fences):
        if fence.group(1) != "sh" or "curl" not in fence.group(2):
            continue
        after = fences[n + 1] if n + 1 < len(fences) else None
        output = after.group(2) if after and after.start() == fence.end() else None
        found.append(Example(text[: fence.start()].count("\n") + 1, fence.group(2), output))
    return found


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def _json_values(body: str) -> list[Any]:
    """The body as one JSON document, or as NDJSON lines; [] if it is neither."""
    try:
        return [json.loads(body)]
    except ValueError:
        try:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError:
            return []


def assert_shape(documented: str, actual: str) -> None:
    head, _, body = actual.partition("\r\n\r\n") if actual.startswith("HTTP/") else ("", "", actual)
    shown_head, _, shown_body = (
        documented.partition("\n\n") if documented.startswith("HTTP/") else ("", "", documented)
    )
    for name in re.findall(r"^([a-z][a-z-]+): ", shown_head, re.M):
        assert re.search(rf"^{name}:", head, re.M | re.I), f"header {name} missing"
    values = _json_values(body)
    if values and "{" in shown_body:
        missing = set(re.findall(r'"([A-Za-z_]\w*)":', shown_body)) - set(_keys(values))
        assert not missing, f"documented fields missing: {sorted(missing)}"
    for event in set(re.findall(r"^event: (\w+)$", shown_body, re.M)):
        assert f"event: {event}\n" in body, f"SSE event {event} missing"
    for metric in set(re.findall(r"^(dreamforge_\w+)\{", shown_body, re.M)):
        assert f"\n{metric}{{" in body, f"metric {metric} missing"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("docs-server"),
        {
            "DREAMFORGE_MODEL_DOWNLOAD_JOBS": "true",
            "DREAMFORGE_CIVITAI_BASE_URL": "http://127.0.0.1:9",  # the download fails offline
            "DREAMFORGE_WEBHOOK_SECRET": "whsec_" + "A" * 44,  # 32 zero bytes: a test key
            # steps take a moment, so a stream opened right after its POST sees live previews
            "DREAMFORGE_FAKE_STEP_DELAY_S": "0.005",
        },
    )
    server.start()
    import_lora(server.env, server.data_dir, "detail-xl")  # the LoRA the examples name
    yield server
    server.stop()


def _shell_env(work: Path) -> dict[str, str]:
    env = {**os.environ}
    if shutil.which("jq") is None:
        bin_dir = work / "bin"
        bin_dir.mkdir(exist_ok=True)
        shim = bin_dir / "jq"
        shim.write_text(f"#!{sys.executable}\n{_JQ_SHIM}")
        shim.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def _wait_finished(server: ServerProcess, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/v1/jobs/{job_id}").json()["state"] in {
            "succeeded",
            "failed",
            "canceled",
        }:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_every_endpoint_of_the_contract_has_an_example() -> None:
    scripts = "\n".join(e.script for e in examples(ROOT / "docs" / "api.md"))
    for path in (
        r"/v1/jobs ",
        r"/v1/jobs/\$JOB\"",
        r"/v1/jobs/\$JOB/cancel",
        r"/v1/jobs/\$JOB/artifacts",
        r"/v1/jobs/\$JOB/logs",
        r"/v1/jobs/\$JOB/progress\"",
        r"/v1/jobs/\$JOB/progress/stream",
        r"/v1/models\n",
        r"/v1/models/fake-sdxl",
        r"/health",
        r"/ready",
        r"/metrics",
        r"/schema/openapi.json",
    ):
        assert re.search(DOCUMENTED.replace(".", r"\.") + path, scripts), path


def test_the_api_examples_work_as_written(live: ServerProcess, tmp_path: Path) -> None:
    env = _shell_env(tmp_path)
    state = tmp_path / "state.env"
    for example in examples(ROOT / "docs" / "api.md"):
        script = example.script.replace(DOCUMENTED, live.url)
        wrapped = (
            "set -ea\n"
            f"curl() {{ command curl -w '%{{stderr}}{STATUS} %{{http_code}}\\n' \"$@\"; }}\n"
            f"{script}\nenv -0 > {state}\n"
        )
        result = subprocess.run(
            ["bash", "-c", wrapped], env=env, cwd=tmp_path, capture_output=True, timeout=60
        )
        where = f"docs/api.md:{example.line}"
        stderr = result.stderr.decode()
        assert result.returncode == 0, f"{where} failed: {stderr}"
        statuses = [int(s) for s in re.findall(rf"^{STATUS} (\d+)$", stderr, re.M)]
        assert statuses, f"{where}: no curl call"
        expected_last = example.expected_error
        for status in statuses[:-1] if expected_last else statuses:
            assert 200 <= status < 300, f"{where}: status {status}"
        if expected_last:
            assert statuses[-1] == expected_last, f"{where}: {statuses[-1]} != {expected_last}"
        if example.output is not None:
            assert_shape(example.output, result.stdout.decode())
        env = dict(
            item.split("=", 1) for item in state.read_bytes().decode().split("\0") if "=" in item
        )
        if "JOB" in env:
            _wait_finished(live, env["JOB"])
