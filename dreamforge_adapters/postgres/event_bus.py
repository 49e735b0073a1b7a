"""Live events across processes with LISTEN/NOTIFY: the worker publishes, API replicas follow.

`publish` sends one NOTIFY per event on the channel `dreamforge_events`, all in one statement,
after the caller has committed them (the repository is the source of truth; the bus only says
"look"). The stack's repository sends them itself, inside the transaction that stores them
(`PostgresJobRepo(announce=True)`, `announced_by_repo=True` here): no round trip of their own,
and never an announcement of something that did not commit. A payload is the event's JSON,
or, when that does not fit Postgres' 8000-byte limit, a stub `{job_id, seq, stub}` that the
subscriber resolves by reading the event from the `source`
(the JobRepo, given by the composition root). Without a source a stub is dropped, and the
follower finds the event in the repository when it notices the gap in sequence numbers.

Each bus holds ONE dedicated listener connection, opened on a background thread at the first
`subscribe` (or `start()`), which dispatches each notification to the callbacks of its job. When
the connection drops (Postgres restarted, backend terminated) the thread reconnects with
back-off and, having a source, re-reads what each followed job missed meanwhile. Per job,
delivery only moves forward: an event at or below the last delivered seq is not delivered again.
Callbacks run on the listener thread and must not block; one that raises is logged and skipped.

Live previews (never stored) travel on a channel of their own, `dreamforge_previews`, heard by
the same listener connection. A preview's data URL is larger than one notification may be,
so it goes as numbered parts in one statement: Postgres delivers the notifications of one
transaction together and in order, and the listener joins them. The publisher sends them
whether or not anyone follows: one round trip per preview, off the runner's own process.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from dreamforge_adapters.postgres import codec
from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_core.domain.events import Event, LivePreview
from dreamforge_core.errors import DreamForgeError
from dreamforge_core.ports.event_bus import (
    CallbackSubscription,
    EventBus,
    FanOut,
    Subscription,
    remove_subscription,
)
from dreamforge_core.ports.job_repo import EventSource

log = logging.getLogger(__name__)

CHANNEL = "dreamforge_events"
PREVIEW_CHANNEL = "dreamforge_previews"
_PREVIEW_PART_CHARS = 7000  # of the data URL per notification (payloads stay under 8000 bytes)
LISTENER_NAME = "dreamforge-listener"
_NOTIFY = "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload"
_POLL_S = 0.25  # how long close() may wait for the listener to notice
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.1, 5.0


class PostgresEventBus(EventBus):
    """Publishes through the pool; follows through one listener connection per bus."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        source: EventSource | None = None,
        announced_by_repo: bool = False,
    ) -> None:
        self._database = database
        self._source = source
        self._announced_by_repo = announced_by_repo
        self._lock = threading.Lock()
        self._subs: dict[str, list[CallbackSubscription[Event]]] = {}
        self._last: dict[str, int] = {}  # per followed job, the last seq delivered
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._previews = FanOut[LivePreview]("preview")
        # per (job, item): the step whose parts are arriving, and the parts so far
        self._parts: dict[tuple[str, int], tuple[int, list[str]]] = {}

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, events: Sequence[Event]) -> None:
        """Best effort: the events are committed already, so a failure here is only logged.

        Nothing to do when the repository announces events in its own transactions
        (`PostgresJobRepo(announce=True)`): they went out with their commit."""
        if not events or self._announced_by_repo:
            return
        payloads = [codec.notify_payload(e) for e in events]
        try:
            with self._database.connection() as conn:
                conn.execute(_NOTIFY, (CHANNEL, payloads))
        except DreamForgeError as e:
            log.warning("live events of job %s not announced: %s", events[0].job_id, e)

    def publish_preview(self, preview: LivePreview) -> None:
        image = preview.image
        chunks = [
            image[i : i + _PREVIEW_PART_CHARS] for i in range(0, len(image), _PREVIEW_PART_CHARS)
        ]
        head = {"j": preview.job_id, "i": preview.item_index, "s": preview.step, "t": preview.total}
        payloads = [
            json.dumps({**head, "p": n, "n": len(chunks), "d": chunk})
            for n, chunk in enumerate(chunks)
        ]
        try:
            with self._database.connection() as conn:
                conn.execute(_NOTIFY, (PREVIEW_CHANNEL, payloads))
        except DreamForgeError as e:
            log.debug("preview of job %s not announced: %s", preview.job_id, e)

    # --- following ----------------------------------------------------------------------------

    def subscribe_previews(
        self, job_id: str, callback: Callable[[LivePreview], None]
    ) -> Subscription:
        sub = self._previews.subscribe(job_id, callback)
        self.start()
        return sub

    def subscribe(self, job_id: str, callback: Callable[[Event], None]) -> Subscription:
        sub = CallbackSubscription[Event](job_id, callback, self._remove)
        with self._lock:
            self._subs.setdefault(job_id, []).append(sub)
        self.start()
        return sub

    def start(self) -> None:
        """Starts the listener thread (once); it connects in the background."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._listen, name="dreamforge-event-listener", daemon=True
            )
            self._thread.start()

    def wait_until_listening(self, timeout: float) -> bool:
        """True once the listener's LISTEN is in place (for start-up and tests)."""
        return self._listening.wait(timeout)

    @property
    def listener_pid(self) -> int | None:
        """The server process of the listener connection, while it is connected."""
        return self._pid

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def close(self) -> None:
        """Stops the listener and drops every subscription; the database stays open."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self._database.timeout + 1.0)
        with self._lock:
            self._subs.clear()
            self._last.clear()

    def _remove(self, sub: CallbackSubscription[Event]) -> None:
        with self._lock:
            if remove_subscription(self._subs, sub):
                self._last.pop(sub.job_id, None)

    # --- the listener thread ------------------------------------------------------------------

    def _listen(self) -> None:
        delay, reconnecting = _BACKOFF_MIN_S, False
        while not self._stop.is_set():
            try:
                with self._database.connect(LISTENER_NAME) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {PREVIEW_CHANNEL}")
                    self._pid = conn.info.backend_pid
                    if reconnecting:
                        self._catch_up()
                    self._listening.set()
                    delay, reconnecting = _BACKOFF_MIN_S, True
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=_POLL_S):
                            if note.channel == PREVIEW_CHANNEL:
                                self._preview_part(note.payload)
                            else:
                                self._dispatch(note.payload)
            except Exception as e:  # whatever broke, the listener must come back
                log.warning("event listener disconnected, reconnecting: %s", e)
            finally:
                self._listening.clear()
                self._pid = None
            if self._stop.wait(delay * random.uniform(0.5, 1.0)):
                return
            delay = min(delay * 2, _BACKOFF_MAX_S)

    def _dispatch(self, payload: str) -> None:
        try:
            data: dict[str, Any] = json.loads(payload)
            job_id = data["job_id"]
            with self._lock:
                if job_id not in self._subs:
                    return  # another job's event: most notifications end here
            if data.get("stub"):
                event = self._resolve(job_id, data["seq"])
            else:
                event = codec.event_from_dict(data)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("unreadable event notification skipped: %s", e)
            return
        except DreamForgeError as e:
            log.warning("event notification not resolved (the follower will catch up): %s", e)
            return
        if event is not None:
            self._deliver(event)

    def _preview_part(self, payload: str) -> None:
        """Joins a preview's parts; delivers it once its last part is here."""
        try:
            data = json.loads(payload)
            job_id, item, step = str(data["j"]), int(data["i"]), int(data["s"])
            part, parts, chunk = int(data["p"]), int(data["n"]), str(data["d"])
            total = int(data["t"])
        except (ValueError, KeyError, TypeError) as e:
            log.warning("unreadable preview notification skipped: %s", e)
            return
        if not self._previews.followed(job_id):
            self._parts.pop((job_id, item), None)
            return
        key = (job_id, item)
        held_step, chunks = self._parts.get(key, (step, []))
        if part == 0 or held_step != step or len(chunks) != part:
            chunks = []  # a new preview, or parts of an earlier one went missing
            if part != 0:
                return
        chunks.append(chunk)
        if len(chunks) < parts:
            self._parts[key] = (step, chunks)
            return
        self._parts.pop(key, None)
        self._previews.deliver(LivePreview(job_id, item, step, total, "".join(chunks)))

    def _resolve(self, job_id: str, seq: int) -> Event | None:
        if self._source is None:
            return None  # the follower reads it from the repository on the next gap
        found = self._source.events(job_id, after_seq=seq - 1, limit=1)
        return found[0] if found and found[0].seq == seq else None

    def _catch_up(self) -> None:
        """Delivers what followed jobs stored while the listener was away."""
        if self._source is None:
            return
        with self._lock:
            known = dict(self._last)
        for job_id, last in known.items():
            for event in self._source.events(job_id, after_seq=last):
                self._deliver(event)

    def _deliver(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs.get(event.job_id, ()))
            if not subs or event.seq <= self._last.get(event.job_id, 0):
                return
            self._last[event.job_id] = event.seq
        for sub in subs:
            try:
                sub.callback(event)
            except Exception:  # one broken follower must not starve the others
                log.exception("event subscriber failed")
