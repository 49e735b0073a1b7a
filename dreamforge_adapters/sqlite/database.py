"""One SQLite file shared by the job repository and the model registry.

The embedded server calls the store from the asyncio thread and from its worker thread. SQLite
allows one writer at a time anyway, so a single connection behind a re-entrant lock costs no
parallelism and avoids `database is locked` between our own threads; `busy_timeout` covers
other processes on the same file (the admin CLI). Writes open with `BEGIN IMMEDIATE`, taking the
write lock before reading, so a read-then-write inside a transaction cannot be overtaken.

WAL with `synchronous=NORMAL` makes a commit an append to the log without an fsync: a power cut
may lose the last commits but never corrupts the file; that is the trade the benchmark needs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from os import PathLike
from pathlib import Path
from typing import Any, NoReturn

from dreamforge_adapters.sql.dialect import Row
from dreamforge_adapters.sql.migrations import apply_pending
from dreamforge_adapters.sqlite.migrations import CREATE_MIGRATIONS_TABLE, MIGRATIONS
from dreamforge_core.domain.clock import iso, utc_now
from dreamforge_core.errors import DreamForgeError, Unavailable

DEFAULT_BUSY_TIMEOUT_MS = 5_000


class SqliteDatabase:
    """An open, migrated database file; close it when the process stops."""

    def __init__(
        self, path: str | PathLike[str], *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._closed = False
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock instead
                cached_statements=256,
            )
        except sqlite3.Error as e:
            raise Unavailable(f"cannot open database {self.path}: {e}") from e
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
            _migrate(conn)
        except BaseException as e:
            conn.close()
            if isinstance(e, sqlite3.Error):
                _reraise(e)
            raise
        self._conn = conn

    @property
    def schema_version(self) -> int:
        with self.read() as conn:
            row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
            return int(row[0] or 0)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads; one statement is one consistent snapshot."""
        with self._lock:
            conn = self._open_connection()
            try:
                yield conn
            except sqlite3.Error as e:
                _reraise(e)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            conn = self._open_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    # the original error says more than a failed rollback would
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    _reraise(e)
                raise

    def fetch(self, statement: str, params: Mapping[str, Any]) -> list[Row]:
        with self.read() as conn:
            return list(fetch_rows(conn, statement, params))

    def execute(self, statement: str, params: Mapping[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(statement, params)

    def ping(self) -> None:
        """Reads a page of the file, so a lost or unreadable file shows up, not just the handle."""
        with self.read() as conn:
            conn.execute("SELECT version FROM schema_migrations LIMIT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with suppress(sqlite3.Error):  # optimising is a courtesy; closing must still happen
                self._conn.execute("PRAGMA optimize")
            self._conn.close()

    def __enter__(self) -> SqliteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_connection(self) -> sqlite3.Connection:
        if self._closed:
            raise Unavailable(f"database {self.path} is closed")
        return self._conn


def fetch_rows(
    conn: sqlite3.Connection, statement: str, params: Mapping[str, Any] | tuple[Any, ...]
) -> list[dict[str, Any]]:
    """Rows by column name. Plain dicts: `sqlite3.Row` finds a name by a scan that compares
    case-insensitively, which made loading a job a fifth slower."""
    cursor = conn.execute(statement, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _reraise(e: sqlite3.Error) -> NoReturn:
    """Locks, I/O and corruption mean the store is unavailable; a refused row is our bug."""
    if isinstance(e, sqlite3.IntegrityError):
        raise DreamForgeError(f"the database refused the change: {e}") from e
    if isinstance(e, sqlite3.ProgrammingError | sqlite3.InterfaceError):
        raise e  # a wrong statement or binding: a bug to surface unchanged
    raise Unavailable(f"database unavailable: {e}") from e


def _migrate(conn: sqlite3.Connection) -> None:
    """Applies the missing migrations in one transaction; BEGIN IMMEDIATE takes the write lock
    before the applied versions are read, so racing processes apply each migration once."""
    conn.execute(CREATE_MIGRATIONS_TABLE)
    conn.execute("BEGIN IMMEDIATE")
    try:
        apply_pending(conn, MIGRATIONS, param="?", applied_at=iso(utc_now()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
