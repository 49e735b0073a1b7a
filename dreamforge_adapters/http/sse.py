"""The resumable SSE stream of a job.

Order of work: subscribe to live events first, then replay stored events after the client's
Last-Event-ID, then follow live events, skipping anything already sent. The repository is the
source of truth: a live event that skips a sequence number, or a quiet keep-alive interval,
makes the stream read the gap from the repository, so no event is lost or sent twice.
Live previews (`preview`, never stored) are sent as they come, without an `id:`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from dreamforge_adapters.http.blocking import call
from dreamforge_adapters.http.jobs import services
from dreamforge_adapters.http.openapi import documented, optional_value
from dreamforge_adapters.http.services import ApiServices, HttpSettings
from dreamforge_core.domain.events import Event, LivePreview
from dreamforge_core.errors import FieldError, InvalidInput

_SEQ = re.compile(r"[0-9]{1,19}", re.ASCII)
_SEQ_SCHEMA = optional_value("integer", minimum=0)
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def _frame(event: Event) -> bytes:
    data = msgspec.json.encode(event.to_dict(), enc_hook=str)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.kind.value.encode(), data)


def _preview_frame(preview: LivePreview) -> bytes:
    """No `id:` line: a preview is not stored, so a resumed stream neither counts nor replays
    it (EventSource keeps the last id it saw)."""
    return b"event: preview\ndata: %s\n\n" % msgspec.json.encode(preview.to_dict())


def _last_event_id(header: str | None, query: str | None) -> int:
    """The header wins over the query value (for EventSource, which cannot set headers), but
    both must be valid: a bad value is refused wherever it is."""
    seqs = [_seq(name, raw) for name, raw in (("Last-Event-ID", header), ("last_event_id", query))]
    return next((seq for seq in seqs if seq is not None), 0)


def _seq(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    # ASCII digits only (str.isdigit also takes "²", which int() refuses), and no more than
    # a 64-bit sequence number has: int() of thousands of digits raises
    digits = _SEQ.fullmatch(raw.strip())
    if digits is None:
        raise InvalidInput.for_fields([FieldError(name, "must be an event sequence number")])
    return int(digits.group())


async def _follow(
    svc: ApiServices, state: State, job_id: str, after: int, keepalive_s: float
) -> AsyncIterator[bytes]:
    """The stream's frames after `after`: what is stored first, then what the bus brings.

    One generator, a few lines over the usual length, because its parts share `last`, the
    sequence number sent last: the catch-up reads, the finished-job shortcut, the live loop,
    and the read that fills a gap the bus left all advance it, and none may send an event
    twice or out of order."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Event | LivePreview] = asyncio.Queue()

    def deliver(event: Event | LivePreview) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the client is gone
            loop.call_soon_threadsafe(inbox.put_nowait, event)

    subscription = svc.bus.subscribe(job_id, deliver)
    previews = svc.bus.subscribe_previews(job_id, deliver)
    last = after
    try:
        yield b"retry: 1000\n\n"

        async def catch_up() -> tuple[list[bytes], bool]:
            nonlocal last
            frames, ended = [], False
            for event in await call(state, svc.jobs.events_after, job_id, last):
                frames.append(_frame(event))
                last = event.seq
                ended = event.is_end
                if ended:
                    break
            return frames, ended

        frames, ended = await catch_up()
        for frame in frames:
            yield frame
        if not ended and (await call(state, svc.jobs.job, job_id)).state.terminal:
            # A finished job has stored `end` with its final state: one more look sends what
            # came since, `end` included unless the client resumed past it (a webhook
            # attempt's log line may follow `end`). Then the stream is over.
            frames, ended = await catch_up()
            for frame in frames:
                yield frame
            return
        while not ended:
            try:
                event = await asyncio.wait_for(inbox.get(), keepalive_s)
            except TimeoutError:
                frames, ended = await catch_up()
                for frame in frames:
                    yield frame
                yield b": keep-alive\n\n"
                continue
            if isinstance(event, LivePreview):
                yield _preview_frame(event)
                continue
            if event.seq <= last:
                continue
            if event.seq == last + 1:
                last = event.seq
                ended = event.is_end
                yield _frame(event)
                continue
            frames, ended = await catch_up()
            for frame in frames:
                yield frame
    finally:
        subscription.close()
        previews.close()


@get(
    "/v1/jobs/{job_id:str}/progress/stream",
    media_type="text/event-stream",
    **documented(
        404, 422, summary="Live job events (SSE), resumable with Last-Event-ID", tag="jobs"
    ),
)
async def job_stream(
    job_id: str,
    state: State,
    # read as text: a bad value is refused by name even beside a good one in the header
    last_event_id: Annotated[str | None, Parameter(schema_extra=_SEQ_SCHEMA)] = None,
    last_event_id_header: Annotated[
        str | None,
        Parameter(
            header="Last-Event-ID",
            description="Resume after this event sequence number",
            schema_extra=_SEQ_SCHEMA,
        ),
    ] = None,
) -> Stream:
    svc = services(state)
    after = _last_event_id(last_event_id_header, last_event_id)
    await call(state, svc.jobs.job, job_id)  # 404 before the stream starts
    settings: HttpSettings = state["http_settings"]
    return Stream(
        _follow(svc, state, job_id, after, settings.sse_keepalive_s),
        media_type="text/event-stream",
        headers=_HEADERS,
    )
