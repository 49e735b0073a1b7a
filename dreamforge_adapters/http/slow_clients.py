"""Deadlines for receiving a request, and a bound on open connections (slow clients).

uvicorn closes a connection that stays idle after a response, and nothing else: a client
that sends a request head a byte at a time (slowloris), or a body at a trickle, holds its
connection and a file descriptor for as long as it likes, and enough such clients starve the
server. Here:

- a request head must be complete `head_timeout_s` after the connection starts waiting for
  it (when it opens, and when a response is complete);
- a request body must be complete `body_timeout_s` after its head;
- at most `max_connections` connections are open. A new one takes the place of the one that
  has waited longest for a request head; when every connection is busy with a request, the
  new one is refused with 503.

A client cut off in the middle of a request gets 408 (503 when it made room) in the API
envelope before the connection closes; an idle connection is just closed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from dreamforge_adapters.http.errors import CUT_OFF_SCOPE_KEY
from dreamforge_adapters.http.head_limits import HeadLimitedProtocol, write_error

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 2048


class ConnectionSlots:
    """The open connections of one server, and which of them wait for a request head, oldest
    first (a dict keeps the order in which they began to wait)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: set[SlowClientGuard] = set()
        self._waiting: dict[SlowClientGuard, None] = {}

    def admit(self, conn: SlowClientGuard) -> bool:
        if len(self._open) >= self.limit:
            if not self._waiting:
                return False
            oldest = next(iter(self._waiting))
            self.release(oldest)
            oldest.make_room()
        self._open.add(conn)
        return True

    def waiting(self, conn: SlowClientGuard) -> None:
        if conn in self._open:
            self._waiting.pop(conn, None)
            self._waiting[conn] = None

    def busy(self, conn: SlowClientGuard) -> None:
        self._waiting.pop(conn, None)

    def release(self, conn: SlowClientGuard) -> None:
        self._open.discard(conn)
        self._waiting.pop(conn, None)


class SlowClientGuard(HeadLimitedProtocol):
    """One connection; `guarded_protocol` makes the class a server uses."""

    limits: ClassVar[ConnectionLimits]
    slots: ClassVar[ConnectionSlots]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting: str | None = None  # "head" or "body": what the deadline is for
        self._head_begun = False  # bytes of the awaited head have arrived
        super().connection_made(transport)
        if self.slots.admit(self):
            self._await_head()
        else:
            self._cut("unavailable", "the server is at its connection limit", answer=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.slots.release(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._head_begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_begun = False
        self.slots.busy(self)
        super().on_headers_complete()
        if self.pipeline and self.pipeline[0][0] is self.cycle:
            self._disarm()  # queued behind a response: its body is not read until it starts
        else:
            self._arm("body", self.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        if self._awaiting == "body":
            self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        queued = self.pipeline[-1][0] if self.pipeline else None  # the request started next
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if queued is None:
            self._await_head()
        elif queued.more_body:
            self._arm("body", self.limits.body_timeout_s)

    def make_room(self) -> None:
        """Closes this connection, which waits for a head, for a newer one."""
        self._cut("unavailable", "the server is at its connection limit", answer=self._head_begun)

    def _await_head(self) -> None:
        self.slots.waiting(self)
        self._arm("head", self.limits.head_timeout_s)

    def _arm(self, awaiting: str, seconds: float) -> None:
        self._disarm()
        self._awaiting = awaiting
        self._deadline = self.loop.call_later(seconds, self._overdue)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._awaiting = None, None

    def _overdue(self) -> None:
        awaiting = self._awaiting
        self._deadline, self._awaiting = None, None
        if awaiting == "head":
            message = f"the request head did not arrive within {self.limits.head_timeout_s:g} s"
            self._cut("request_timeout", message, answer=self._head_begun)
            return
        message = f"the request body did not arrive within {self.limits.body_timeout_s:g} s"
        cycle: RequestResponseCycle | None = self.cycle
        unanswered = cycle is not None and not cycle.response_started
        if cycle is not None and unanswered:
            # The application waits for the body: it sees the client go (and sends nothing
            # after the 408), and its error handler learns from the scope why.
            cycle.scope[CUT_OFF_SCOPE_KEY] = "request_timeout"  # type: ignore[literal-required]
            cycle.disconnected = True
            cycle.message_event.set()
        self._cut("request_timeout", message, answer=unanswered)

    def _cut(self, code: str, message: str, *, answer: bool) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        log.info("closed the connection of %s: %s", _address(self.client), message)
        if answer:
            write_error(self.transport, code, message)
        self.transport.close()


def _address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"


def guarded_protocol(limits: ConnectionLimits) -> type[SlowClientGuard]:
    """The protocol class of one server: these limits, and its own count of connections."""

    class Guard(SlowClientGuard):
        pass

    Guard.limits = limits
    Guard.slots = ConnectionSlots(limits.max_connections)
    return Guard
