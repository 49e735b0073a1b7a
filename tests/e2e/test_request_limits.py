"""Request size limits over raw sockets: bodies over 1 MiB (with or without Content-Length)
get 413, request heads over 16 KiB or 100 headers get 431, and the server keeps serving.

Both deployments build their uvicorn server from `serve.uvicorn_config`, so one embedded
server stands for them here.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServerProcess

MiB = 1024 * 1024
CHUNKED_POST = (
    b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"  # and no Content-Length
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(Path(tmp_path_factory.mktemp("limits")), {})
    srv.start()
    yield srv
    srv.stop()


def _exchange(server: ServerProcess, *parts: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends the parts (stopping early if the server hangs up), reads the whole response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        try:
            for part in parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-request: the response is already on its way
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if sep and length is not None and len(body) >= length:
                    break
        except ConnectionResetError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _chunked(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def _job_body(prompt_len: int) -> bytes:
    return json.dumps({"params": {"prompt": "x" * prompt_len, "width": 64, "height": 64}}).encode()


def _still_serving(server: ServerProcess) -> None:
    assert server.proc is not None
    assert server.proc.poll() is None  # no crash
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def _error(body: bytes) -> dict[str, object]:
    error: dict[str, object] = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details", "correlation_id", "job_id"}
    return error


def test_a_small_chunked_body_is_accepted(server: ServerProcess) -> None:
    body = _job_body(10)
    status, _, response = _exchange(server, CHUNKED_POST, *_chunked(body))
    assert status == 202, response


@pytest.mark.parametrize("size", [MiB + 1, 8 * MiB])
def test_a_chunked_body_over_one_mib_gets_413(server: ServerProcess, size: int) -> None:
    body = _job_body(size)
    status, headers, response = _exchange(server, CHUNKED_POST, *_chunked(body))
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert _error(response)["code"] == "payload_too_large"
    _still_serving(server)


def test_a_body_is_not_counted_as_head(server: ServerProcess) -> None:
    body = _job_body(900 * 1024)  # under 1 MiB, far over the head limit, sent in one write
    head = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    status, _, response = _exchange(server, head + body)
    assert status == 422  # the prompt is too long, so the body did reach validation
    assert _error(response)["code"] == "invalid_input"


def test_heads_within_the_limits_are_served(server: ServerProcess) -> None:
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 100) for i in range(90))
    status, _, _ = _exchange(
        server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"
    )
    assert status == 200


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("one 64 KiB header", b"X-Big: " + b"a" * 64 * 1024 + b"\r\n"),
        ("1000 small headers", b"".join(b"X-H-%d: v\r\n" % i for i in range(1000))),
        ("101 headers", b"".join(b"X-H-%d: v\r\n" % i for i in range(100))),
    ],
)
def test_an_oversized_head_gets_431_and_the_server_keeps_serving(
    server: ServerProcess, name: str, head: bytes
) -> None:
    status, headers, response = _exchange(
        server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\n"
    )
    assert status == 431, name
    assert headers["connection"] == "close"
    assert _error(response)["code"] == "headers_too_large"
    _still_serving(server)


def test_an_oversized_url_gets_431(server: ServerProcess) -> None:
    status, _, _ = _exchange(server, b"GET /health?" + b"q" * 20_000 + b" HTTP/1.1\r\n\r\n")
    assert status == 431
    _still_serving(server)


def test_a_header_that_never_ends_is_cut_off(server: ServerProcess) -> None:
    start = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
    status, _, response = _exchange(server, start, *([b"a" * 64 * 1024] * 256))  # 16 MiB
    assert status == 431
    assert _error(response)["code"] == "headers_too_large"
    _still_serving(server)
