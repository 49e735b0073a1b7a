"""The benchmarks' SSE client: reads `text/event-stream` bodies over raw asyncio streams, so
that hundreds of followers cost little client CPU."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import click

from dreamforge_apps.benchmarks.api import _post_bytes, _read_response
from dreamforge_core.domain.clock import parse_iso


@dataclass
class Frame:
    """One SSE event; its JSON is parsed only when asked for, so that a client following a
    busy stream spends its time reading sockets, not decoding."""

    received: float  # time.time() when the bytes arrived
    kind: str
    seq: int
    raw: bytes

    @functools.cached_property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed

    @property
    def ts(self) -> float:
        return parse_iso(str(self.data["ts"])).timestamp()


@dataclass
class SseReader:
    """Reads a chunked `text/event-stream` body: the preamble, then frames as they arrive."""

    reader: asyncio.StreamReader
    chunked: bool
    raw: bytes = b""
    body: bytes = b""
    done: bool = False
    preamble_at: float | None = None
    pending: list[Frame] = field(default_factory=list)

    async def next_frame(self) -> Frame | None:
        while not self.pending:
            if self.done:
                return None
            data = await self.reader.read(65536)
            received = time.time()
            if not data:
                self.done = True
                return None
            self._feed(data, received)
        return self.pending.pop(0)

    def _feed(self, data: bytes, received: float) -> None:
        if self.chunked:
            self.raw += data
            while True:
                end = self.raw.find(b"\r\n")
                if end < 0:
                    break
                size = int(self.raw[:end].split(b";", 1)[0], 16)
                if size == 0:
                    self.done = True
                    break
                if len(self.raw) < end + 2 + size + 2:
                    break
                self.body += self.raw[end + 2 : end + 2 + size]
                self.raw = self.raw[end + 4 + size :]
        else:
            self.body += data
        *blocks, self.body = self.body.split(b"\n\n")
        for block in blocks:
            frame = parse_block(block, received)
            if frame is not None:
                self.pending.append(frame)
            elif self.preamble_at is None and block.startswith(b"retry:"):
                self.preamble_at = received


def parse_block(block: bytes, received: float) -> Frame | None:
    kind, seq, data = "", 0, b""
    for line in block.split(b"\n"):
        if line.startswith(b"event: "):
            kind = line[7:].decode()
        elif line.startswith(b"id: "):
            seq = int(line[4:])
        elif line.startswith(b"data: "):
            data = line[6:]
    if not kind:
        return None  # the `retry:` preamble or a keep-alive comment
    return Frame(received, kind, seq, data)


async def open_stream(host: str, port: int, job_id: str) -> tuple[SseReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    return await request_stream(reader, writer, host, job_id), writer


async def request_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, job_id: str
) -> SseReader:
    writer.write(
        f"GET /v1/jobs/{job_id}/progress/stream HTTP/1.1\r\nHost: {host}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise click.ClickException(f"GET the stream of {job_id} answered {status}")
    return SseReader(reader, chunked=b"transfer-encoding: chunked" in head.lower())


async def post_job(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int, body: bytes
) -> str:
    writer.write(_post_bytes(host, port, "/v1/jobs", body))
    status, answer = await _read_response(reader)
    if status != 202:
        raise click.ClickException(f"POST /v1/jobs answered {status}: {answer[:300]!r}")
    return str(json.loads(answer)["id"])
