"""GET requests sent exactly as written, for tests of what the server does with odd requests."""

from __future__ import annotations

import http.client
from collections.abc import Mapping


def raw_get(
    port: int, target: str, headers: Mapping[str, str | bytes], *, skip_host: bool = False
) -> tuple[int, bytes]:
    """GET on loopback with the target and header values sent byte for byte; with
    `skip_host` no Host header is added but the one in `headers`. Returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_host=skip_host)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
