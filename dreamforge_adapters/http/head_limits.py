"""uvicorn's httptools protocol with limits on the request head (request line and headers).

httptools hands a header over only once it is complete and uvicorn sets no limit of its
own, so without this a client could grow one request's headers until memory runs out. A
head over the limits gets 431 in the API envelope and the connection is closed; no request
reaches the application.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from http import HTTPStatus
from typing import NoReturn

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dreamforge_adapters.http.errors import envelope

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024  # as Node.js; far above what an API client sends
MAX_HEADERS = 100


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limits."""


class HeadLimitedProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    max_headers = MAX_HEADERS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._in_head = True
        self._unparsed_head_bytes = 0
        self._head_bytes = 0
        self._header_count = 0
        self._refused = False
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        # The parser callbacks below measure a head exactly but only once each header is
        # complete; counting raw reads as well stops a header that never ends.
        if self._in_head:
            self._unparsed_head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._unparsed_head_bytes > self.max_head_bytes:
            self._refuse(f"request headers exceed {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        self._header_count = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._stop(f"more than {self.max_headers} request headers")
        self._grow(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _grow(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._stop(f"request headers exceed {self.max_head_bytes} bytes")

    def _stop(self, message: str) -> NoReturn:
        self._refuse(message)
        raise HeadTooLarge(message)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._unparsed_head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # the next request on this connection starts with a head
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # HeadTooLarge reaches uvicorn as a parser error
            super().send_400_response(msg)

    def _refuse(self, message: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        log.warning("refused a request from %s: %s", self.client, message)
        write_error(self.transport, "headers_too_large", message)
        self.transport.close()


def write_error(transport: asyncio.Transport, code: str, message: str) -> None:
    """Writes an error response in the API envelope that ends the connection, for a request
    the application never sees."""
    status, body = envelope(code, message, uuid.uuid4().hex)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    transport.write(head.encode() + body)
