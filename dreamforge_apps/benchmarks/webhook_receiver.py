"""A local webhook receiver: checks each delivery's signature, answers with a status it is told
to, and keeps every attempt with its arrival time.

It fails the first `fail_first` attempts of each message (by `webhook-id`) with 500, then
accepts; so a run shows whether every event still reaches the receiver exactly once.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dreamforge_core.domain.webhooks import signature

#: body, headers -> None; raises when the signature does not hold
Verify = Callable[[str, Mapping[str, str]], None]
#: How far a delivery's timestamp may lie from the receiver's clock, as receivers check it.
TOLERANCE_S = 300


def signature_check(key: bytes) -> Verify:
    """Checks a delivery as a Standard Webhooks receiver does: one of the signatures is the
    HMAC of the id, the timestamp and the body, and the timestamp is recent."""

    def verify(body: str, headers: Mapping[str, str]) -> None:
        timestamp = int(headers["webhook-timestamp"])
        if abs(time.time() - timestamp) > TOLERANCE_S:
            raise ValueError("the timestamp is not recent")
        expected = signature(key, headers["webhook-id"], timestamp, body)
        offered = headers["webhook-signature"].split()
        if not any(hmac.compare_digest(expected, s) for s in offered):
            raise ValueError("no signature matches")

    return verify


@dataclass(frozen=True, slots=True)
class Attempt:
    message_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    received_at: float  # time.time() when the body had arrived


class WebhookReceiver:
    def __init__(self, verify: Verify, *, fail_first: int = 0) -> None:
        self.verify = verify
        self.fail_first = fail_first
        self.attempts: list[Attempt] = []
        self.bad_signatures = 0
        self._seen: dict[str, int] = {}
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/dreamforge"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accepted(self) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.status < 300]

    def wait_for(self, accepted: int, timeout_s: float) -> list[Attempt]:
        """The accepted deliveries once there are at least `accepted` (raises on time-out)."""
        with self._lock:
            done = self._lock.wait_for(lambda: len(self.accepted()) >= accepted, timeout_s)
            if not done:
                raise TimeoutError(
                    f"{len(self.accepted())} of {accepted} webhook deliveries accepted "
                    f"within {timeout_s:g} s ({len(self.attempts)} attempts)"
                )
            return self.accepted()

    def _answer(self, raw: str, headers: dict[str, str]) -> int:
        received_at = time.time()
        try:
            self.verify(raw, headers)
        except Exception:
            with self._lock:
                self.bad_signatures += 1
            return 400
        message_id = headers.get("webhook-id", "")
        with self._lock:
            seen = self._seen.get(message_id, 0)
            self._seen[message_id] = seen + 1
            status = 500 if seen < self.fail_first else 204
            self.attempts.append(Attempt(message_id, json.loads(raw), headers, status, received_at))
            self._lock.notify_all()
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.send_response(receiver._answer(raw, headers))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # a benchmark's output is its figures

        return Handler
