"""A TCP relay that tests put between a process and a service to make the service "go down".

Stopping the machine's shared Postgres or Redis would break every other test; a relay of our
own breaks only the connections that go through it. `down()` behaves like a crashed server:
every relayed connection is cut (both sides see the socket close) and the port refuses new
ones, because the listening socket is closed. `up()` listens again on the same port, so the
clients, which were configured with the relay's address, reconnect by themselves.

    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    dsn = make_conninfo(dsn, host=proxy.host, port=proxy.port)
    proxy.down(); ...; proxy.up()
    proxy.stop()

Threads, not asyncio: one accept thread per listening period, two pump threads per connection.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress

_ACCEPT_POLL_S = 0.1
_REBIND_TIMEOUT_S = 5.0


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv() on it
    sock.close()


class TcpProxy:
    """Relays every connection made to `host:port` to `target`; can go down and come back."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.target = target
        self.host = host
        self.port = port or _free_port(host)
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._generation = 0  # bumped by down(): connections of an older one are cut
        self._links: set[tuple[socket.socket, socket.socket]] = set()
        self.accepted = 0  # connections relayed since start(), for assertions

    # --- control ------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def start(self) -> TcpProxy:
        """Listens on the port; idempotent."""
        self.up()
        return self

    def up(self) -> None:
        """Listens again on the same port (the port of `__init__`); a no-op while up."""
        with self._lock:
            if self._listener is not None:
                return
            listener = self._bind()
            self._listener = listener
            generation = self._generation
        self._accepting = threading.Thread(
            target=self._accept,
            args=(listener, generation),
            name=f"tcp-proxy-accept-{self.port}",
            daemon=True,
        )
        self._accepting.start()

    def down(self) -> None:
        """Like a server crash: new connections are refused, every open one is cut."""
        with self._lock:
            self._generation += 1
            listener, self._listener = self._listener, None
            links, self._links = self._links, set()
        if listener is not None:
            _close(listener)
        for client, server in links:
            _close(client)
            _close(server)
        thread, self._accepting = self._accepting, None
        if thread is not None:
            thread.join(timeout=2 * _ACCEPT_POLL_S + 1.0)

    def stop(self) -> None:
        """Down for good (the port is released)."""
        self.down()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- relaying -----------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        """A listening socket on our port; retried briefly in case the old one lingers."""
        deadline = time.monotonic() + _REBIND_TIMEOUT_S
        while True:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((self.host, self.port))
                listener.listen(128)
            except OSError:
                listener.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            listener.settimeout(_ACCEPT_POLL_S)  # so the loop notices down() on its own too
            return listener

    def _accept(self, listener: socket.socket, generation: int) -> None:
        while self._generation == generation:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed by down()
            client.settimeout(None)
            threading.Thread(target=self._connect, args=(client, generation), daemon=True).start()

    def _connect(self, client: socket.socket, generation: int) -> None:
        try:
            server = socket.create_connection(self.target, timeout=self._connect_timeout_s)
        except OSError:
            _close(client)  # the service itself is away: the client sees a hang-up
            return
        server.settimeout(None)
        link = (client, server)
        with self._lock:
            if self._generation != generation:  # went down while this one was connecting
                cut = True
            else:
                cut = False
                self._links.add(link)
                self.accepted += 1
        if cut:
            _close(client)
            _close(server)
            return
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink, link), daemon=True).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        link: tuple[socket.socket, socket.socket],
    ) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        # Either side hanging up ends the relayed connection in both directions.
        with self._lock:
            self._links.discard(link)
        for s in link:
            _close(s)
