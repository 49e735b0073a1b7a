"""The `dreamforge` command fails politely: an expected failure (a server that cannot be
reached or answers with an error, a bad reference, an unknown model, a store that is down, a
bad setting) ends in one sentence on stderr and a non-zero exit status, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dreamforge_apps.benchmarks.ports import free_port
from tests.e2e.conftest import ServerProcess
from tests.e2e.stack import REDIS_URL
from tests.support.fake_hub import FakeHub

#: Every command that talks to a Dream Forge server, with the option naming the server.
CLIENT_COMMANDS = {
    "generate": ["generate", "a fox", "--server"],
    "bench api": ["bench", "api", "--requests", "1", "--first-progress-samples", "1", "--url"],
    "bench stack": ["bench", "stack", "--requests", "1", "--samples", "1", "--url"],
    "bench cancel": ["bench", "cancel", "--cancels", "1", "--url"],
}


def _dreamforge(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DREAMFORGE_")}
    return subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", *args],
        env={**clean, "DREAMFORGE_DATA_DIR": str(cwd / "data"), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The whole of stderr, which must be a single line and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


class _Answers(BaseHTTPRequestHandler):
    """Answers every request with the server's one canned status and body."""

    def _answer(self) -> None:
        status, body, media = self.server.canned  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815  (the names http.server calls)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def answering() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _envelope(code: str, message: str) -> bytes:
    error = {"code": code, "message": message, "details": {}, "correlation_id": "c1"}
    return json.dumps({"error": {**error, "job_id": None}}).encode()


@pytest.mark.parametrize("command", sorted(CLIENT_COMMANDS))
def test_a_server_that_cannot_be_reached_is_one_sentence(command: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = _dreamforge(*CLIENT_COMMANDS[command], url, cwd=tmp_path)
    assert result.returncode != 0
    line = _one_sentence(result)
    assert url in line
    assert "cannot reach" in line


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, "unauthorized", "missing or invalid API key"),
        (404, "not_found", "no model with id 'nope'"),
        (422, "invalid_input", "invalid request: params.width: must be a multiple of 8"),
        (503, "unavailable", "database unavailable"),
    ],
)
def test_generate_reports_an_error_envelope_in_one_sentence(
    answering: ThreadingHTTPServer, tmp_path: Path, status: int, code: str, message: str
) -> None:
    answering.canned = (status, _envelope(code, message), "application/json")  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{answering.server_address[1]}"
    result = _dreamforge("generate", "a fox", "--server", url, cwd=tmp_path)
    assert result.returncode == 2
    line = _one_sentence(result)
    assert f"{status} {code}" in line
    assert message in line


def test_generate_reports_an_answer_that_is_not_an_envelope(
    answering: ThreadingHTTPServer, tmp_path: Path
) -> None:
    answering.canned = (502, b"<html>Bad Gateway</html>", "text/html")  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{answering.server_address[1]}"
    result = _dreamforge("generate", "a fox", "--server", url, cwd=tmp_path)
    assert result.returncode == 2
    line = _one_sentence(result)
    assert "502" in line
    assert url in line


@pytest.mark.parametrize("command", ["bench api", "bench stack", "bench cancel"])
def test_the_benchmarks_report_a_refusing_server_in_one_sentence(
    answering: ThreadingHTTPServer, tmp_path: Path, command: str
) -> None:
    answering.canned = (401, _envelope("unauthorized", "no key"), "application/json")  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{answering.server_address[1]}"
    result = _dreamforge(*CLIENT_COMMANDS[command], url, cwd=tmp_path)
    assert result.returncode != 0
    assert "401" in _one_sentence(result)


@pytest.mark.embedded_only
def test_generate_with_a_wrong_key_on_a_real_server(make_server: object, tmp_path: Path) -> None:
    server: ServerProcess = make_server(DREAMFORGE_API_KEYS="right-key")  # type: ignore[operator]
    server.start()
    result = _dreamforge(
        "generate", "a fox", "--server", server.url, "--api-key", "wrong", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "401 unauthorized" in _one_sentence(result)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["model", "download", "nope"], {}, "invalid_input"),
        (["model", "download", "hf:"], {}, "invalid_input"),
        (["model", "download", "nosuch:thing"], {}, "no source for 'nosuch'"),
        (["model", "enable", "no-such-model"], {}, "not_found"),
        (["model", "disable", "no-such-model"], {}, "not_found"),
        (["model", "verify", "no-such-model"], {}, "not_found"),
        (
            ["model", "list"],
            {"DREAMFORGE_DATABASE_URL": "postgresql://x@127.0.0.1:{port}/x"},
            "database unavailable",
        ),
        (["dlq", "list"], {"DREAMFORGE_REDIS_URL": "redis://127.0.0.1:{port}/0"}, "unavailable"),
        (
            ["dlq", "requeue", "--all"],
            {
                "DREAMFORGE_REDIS_URL": REDIS_URL,
                "DREAMFORGE_DATABASE_URL": "postgresql://x@127.0.0.1:{port}/x",
            },
            "database unavailable",
        ),
        (["model", "list"], {"DREAMFORGE_STEP_TIMEOUT_S": "soon"}, "DREAMFORGE_STEP_TIMEOUT_S"),
        (["model", "list"], {"DREAMFORGE_RUNNER": "gpu"}, "DREAMFORGE_RUNNER"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_admin_commands_report_bad_input_in_one_sentence(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    port = str(free_port())  # nothing listens there
    result = _dreamforge(
        *args, cwd=tmp_path, **{k: v.replace("{port}", port) for k, v in env.items()}
    )
    assert result.returncode in (1, 2)
    assert expected in _one_sentence(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model", "import", "/no/such/file.safetensors"], "does not exist"),
        (["generate", "a fox", "--count", "0"], "'--count'"),
        (["dlq", "requeue"], "name one or more JOB_IDS"),
    ],
    ids=" ".join,
)
def test_bad_options_end_in_click_usage_error(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    """Click's own form: the usage line, the pointer to --help, and the one sentence."""
    result = _dreamforge(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ")
    assert expected in last


def test_model_download_of_a_model_the_source_does_not_have(tmp_path: Path) -> None:
    hub = FakeHub().start()
    try:
        result = _dreamforge(
            "model", "download", "hf:nobody/nothing", cwd=tmp_path, HF_ENDPOINT=hub.url
        )
    finally:
        hub.stop()
    assert result.returncode == 1
    assert "not_found" in _one_sentence(result)


def test_model_download_from_a_source_that_cannot_be_reached(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = _dreamforge("model", "download", "hf:owner/name", cwd=tmp_path, HF_ENDPOINT=endpoint)
    assert result.returncode == 1
    assert "unavailable" in _one_sentence(result)
