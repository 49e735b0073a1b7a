"""Slow and idle clients over raw sockets on loopback: a request head or body that does not
arrive in time is cut (408 where the client sent part of it), and the server holds a bounded
number of connections, shedding the one that has waited longest for a head, while /health and
POST /v1/jobs keep answering.

Every wait here is for an event (a response, or the server closing the connection); the
timeouts only stop a test that would otherwise wait for ever.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from dreamforge_apps.benchmarks.slow_clients import attack, ensure_open_files
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess

SLOW_CLIENTS = 1000
PROBES = 10


def _server(make_server: object, **env: str) -> ServerProcess:
    server: ServerProcess = make_server(**env)  # type: ignore[operator]
    server.start()
    return server


def test_a_thousand_slow_clients_are_cut_while_health_and_jobs_answer(
    make_server: object, capsys: pytest.CaptureFixture[str]
) -> None:
    if ensure_open_files(SLOW_CLIENTS + 256) < SLOW_CLIENTS + 256:
        pytest.skip("the open-files limit is too low for the attack (ulimit -n)")
    server = _server(make_server, DREAMFORGE_HTTP_HEAD_TIMEOUT_S="3")
    report = asyncio.run(
        attack("127.0.0.1", server.port, connections=SLOW_CLIENTS, probes=PROBES, give_up_s=60)
    )
    figures = report.figures()
    with capsys.disabled():
        print(f"\nslow clients against {server.url}: {json.dumps(figures)}")
    assert report.opened == SLOW_CLIENTS
    assert report.held_when_probes_began > 0  # the probes ran during the attack
    assert [status for status, _ in report.health] == [200] * PROBES
    assert [status for status, _ in report.post] == [202] * PROBES
    assert report.held_at_end == 0  # each slow client was cut, none held for ever
    assert report.cut_with_408 == SLOW_CLIENTS  # each had sent part of a head
    assert server.proc is not None
    assert server.proc.poll() is None


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _envelope(response: bytes, status: int, code: str) -> None:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), response[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == code


def _post_head(length: int) -> bytes:
    return (
        b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % length
    )


def _busy(server: ServerProcess) -> socket.socket:
    """A connection whose request the application is reading: it has asked for the body."""
    sock = _connect(server)
    sock.sendall(_post_head(100))
    assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
    return sock


def test_a_body_that_does_not_arrive_in_time_gets_408(make_server: object) -> None:
    server = _server(make_server, DREAMFORGE_HTTP_BODY_TIMEOUT_S="1")
    with _busy(server) as sock:
        sock.sendall(b'{"params": {"prompt": "')  # and then the client stalls
        _envelope(_until_closed(sock), 408, "request_timeout")
    assert httpx.get(f"{server.url}/health").status_code == 200
    log = server.log.read_text()  # the cut is no server error
    assert "unhandled error" not in log
    assert "Traceback" not in log


def test_a_head_that_does_not_arrive_in_time_gets_408_and_silence_a_close(
    make_server: object,
) -> None:
    server = _server(make_server, DREAMFORGE_HTTP_HEAD_TIMEOUT_S="1")
    with _connect(server) as partial, _connect(server) as silent:
        partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        _envelope(_until_closed(partial), 408, "request_timeout")
        assert _until_closed(silent) == b""


@contextmanager
def _connections(server: ServerProcess, count: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        yield [stack.enter_context(_connect(server)) for _ in range(count)]


@pytest.mark.embedded_only
def test_at_the_bound_the_connection_waiting_longest_for_a_head_makes_room(
    make_server: object,
) -> None:
    server = _server(make_server, DREAMFORGE_HTTP_MAX_CONNECTIONS="20")
    with _connections(server, 20) as idle:
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert _until_closed(idle[0]) == b""  # the oldest idle connection made room
        idle[-1].setblocking(False)
        with pytest.raises(BlockingIOError):  # the newest is still open
            idle[-1].recv(1)


@pytest.mark.embedded_only
def test_at_the_bound_with_every_connection_busy_a_new_one_gets_503(
    make_server: object,
) -> None:
    server = _server(make_server, DREAMFORGE_HTTP_MAX_CONNECTIONS="20")
    with ExitStack() as stack:
        busy = [stack.enter_context(_busy(server)) for _ in range(20)]
        with _connect(server) as newcomer:
            _envelope(_until_closed(newcomer), 503, "unavailable")
        busy[0].close()  # a slot comes free once the server sees the close
        with httpx.Client(timeout=10) as client:
            for _ in range(100):
                if client.get(f"{server.url}/health").status_code == 200:
                    break
            else:
                pytest.fail("the freed slot was never used")


def test_the_deadlines_do_not_cut_a_response_that_takes_longer(make_server: object) -> None:
    server = _server(
        make_server,
        DREAMFORGE_HTTP_HEAD_TIMEOUT_S="0.5",
        DREAMFORGE_HTTP_BODY_TIMEOUT_S="0.5",
        DREAMFORGE_FAKE_STEP_DELAY_S="0.25",
    )
    client = DreamForgeClient(server.url)
    try:  # 8 steps of 0.25 s: the stream stays open for at least 2 s
        job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 8})
        events = list(client.stream(job["id"]))
    finally:
        client.close()
    assert events[-1].event == "end"
    assert httpx.get(f"{server.url}/v1/jobs/{job['id']}").json()["state"] == "succeeded"
