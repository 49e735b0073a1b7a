"""A pool of Postgres connections shared by the job repository, the registry and the event bus.

Connections are in autocommit: most writes are a single statement (atomic by itself, one round
trip), and the few multi-statement ones open `transaction()` explicitly. Every session runs in
UTC, so timestamptz values come back as aware UTC datetimes.

The service must answer 503 while Postgres is down and heal by itself when it is back, without
a restart. psycopg_pool replaces a connection that broke while in use; a connection that died
while idle in the pool (server restart, `pg_terminate_backend`) is caught at checkout: an idle
connection has nothing to say, so a readable socket means the server hung up, and only then is
a round trip spent to confirm it. That keeps the healthy path free of a per-checkout ping.
"""

from __future__ import annotations

import select
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from dreamforge_adapters.sql.dialect import Row
from dreamforge_core.errors import DreamForgeError, Unavailable

DEFAULT_APPLICATION_NAME = "dreamforge"


class PostgresDatabase:
    """Owns the connection pool of one process: `open()` at start-up, `close()` at shutdown."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 5.0,
        reconnect_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self._max_size = max_size
        # A short reconnect_timeout makes the pool give up a long back-off sooner; the next
        # request then starts a fresh attempt, so recovery after an outage takes seconds.
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            reconnect_timeout=reconnect_timeout,
            kwargs=self.connect_kwargs(DEFAULT_APPLICATION_NAME),
            configure=_configure,
            open=False,
            name=DEFAULT_APPLICATION_NAME,
        )

    def connect_kwargs(self, application_name: str) -> dict[str, Any]:
        """Connection settings, without overriding what the DSN itself says."""
        given = conninfo_to_dict(self.dsn)
        defaults: dict[str, Any] = {
            "application_name": application_name,
            "connect_timeout": max(1, round(self.timeout)),
            "keepalives": 1,  # notice a dead server on an idle connection, not just on use
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        return {"autocommit": True} | {k: v for k, v in defaults.items() if k not in given}

    def open(self, *, wait: bool = False) -> None:
        """Starts the pool, which connects in the background and keeps trying while the
        server is down. With `wait`, raises Unavailable unless a query succeeds within the
        timeout; the pool stays open either way (psycopg_pool's own wait would close it)."""
        self._pool.open()
        if wait:
            self.ping()

    def close(self) -> None:
        self._pool.close()

    def connect(self, application_name: str) -> psycopg.Connection[Any]:
        """A dedicated connection outside the pool (the event listener); the caller closes it."""
        try:
            conn = psycopg.connect(self.dsn, **self.connect_kwargs(application_name))
            _configure(conn)
        except psycopg.OperationalError as e:
            raise Unavailable(f"database unavailable: {e}") from e
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A live autocommit connection; psycopg errors leave as DreamForge errors."""
        try:
            conn = self._checkout()
        except psycopg.OperationalError as e:
            raise Unavailable(f"database unavailable: {e}") from e
        try:
            yield conn
        except psycopg.Error as e:
            _reraise(e)
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def fetch(self, statement: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of one read, by column name."""
        with self.connection() as conn:
            return list(fetch_rows(conn, statement, params))

    def execute(self, statement: str, params: Mapping[str, Any]) -> None:
        with self.connection() as conn:
            conn.execute(statement, params)

    def ping(self) -> None:
        """Raises Unavailable unless the server answers a query."""
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def __enter__(self) -> PostgresDatabase:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _checkout(self) -> psycopg.Connection[Any]:
        # Each dead connection is closed and handed back, which makes the pool connect a new
        # one; after a server restart every idle connection is dead, hence the bound.
        for _ in range(self._max_size + 1):
            conn = self._pool.getconn()
            if not _dead(conn):
                return conn
            conn.close()
            self._pool.putconn(conn)
        raise Unavailable("database unavailable: no working connection in the pool")


def fetch_rows(
    conn: psycopg.Connection[Any], statement: str, params: Mapping[str, Any] | tuple[Any, ...]
) -> list[dict[str, Any]]:
    """Rows by column name; binary, so timestamps and JSON skip their text form."""
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(statement, params, binary=True).fetchall()


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")


def _dead(conn: psycopg.Connection[Any]) -> bool:
    if conn.closed or conn.broken:
        return True
    if not _readable(conn.fileno()):
        return False
    try:  # something arrived while idle: a FATAL and a hang-up, or a harmless notice
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return True
    return False


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _reraise(e: psycopg.Error) -> NoReturn:
    """A lost server means unavailable; a refused row is our bug, a bad statement even more."""
    if isinstance(e, psycopg.OperationalError):
        raise Unavailable(f"database unavailable: {e}") from e
    if isinstance(e, psycopg.IntegrityError | psycopg.DataError):
        raise DreamForgeError(f"the database refused the change: {e}") from e
    raise e  # a wrong statement or binding: a bug to surface unchanged
