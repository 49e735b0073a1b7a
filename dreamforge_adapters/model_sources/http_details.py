"""HTTP details of downloading: the client, ranges, lengths, Retry-After, URLs safe to show."""

from __future__ import annotations

import email.utils
import re
import time
from typing import NamedTuple, Self
from urllib.parse import urlsplit

import httpx

# 408 is a timeout the server admits to; the rest are the usual "try again later" answers.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)


class Span(NamedTuple):
    start: int | None
    total: int | None


def content_range(value: str | None) -> Span | None:
    """`bytes 10-19/100` or `bytes */100` (416); None when absent or malformed."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if match is None:
        return None
    start = int(match[1]) if match[1] is not None else None
    return Span(start, int(match[3]) if match[3] != "*" else None)


def content_length(response: httpx.Response) -> int | None:
    """The body size of a 200, when it is the file's size (not that of an encoded body)."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def display_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def describe_error(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HttpClientUser:
    """Holds an httpx client: one given is used as is and left open for its owner; without
    one, a client is made here and closed by `close()` (or the `with` block)."""

    def __init__(self, client: httpx.Client | None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
