"""Numbered migrations read from `.sql` files, and the runner both databases share.

A migration is never edited once released: a schema change is a new file at the end, so every
database, whatever version wrote it, reaches the same schema. A database's migrations live in
a package of its own as `NNNN_what_it_does.sql` (the name recorded is the words of the file
name) next to `schema_migrations.sql`, which creates the table that records them. Statements
in a file end with a `;` at the end of a line; they run one by one inside the caller's
transaction, which also records them, so a migration is applied whole or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, NamedTuple, Protocol

from dreamforge_core.errors import Unavailable

MIGRATIONS_TABLE_FILE = "schema_migrations.sql"
_FILE_NAME = re.compile(r"(\d{4})_(\w+)\.sql")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


class Migration(NamedTuple):
    version: int
    name: str
    statements: tuple[str, ...]


class SchemaOutOfDate(Unavailable):
    """Raised when the database schema is not the version this code was written for."""


def statements(text: str) -> tuple[str, ...]:
    """The statements of a script; a part holding only comments is no statement."""
    parts = (part.strip() for part in _STATEMENT_END.split(text))
    return tuple(p for p in parts if any(_is_code(line) for line in p.splitlines()))


def _is_code(line: str) -> bool:
    text = line.strip()
    return bool(text) and not text.startswith("--")


def load_migrations(package: str) -> tuple[Migration, ...]:
    """The migrations shipped in `package`, in version order; versions run 1, 2, 3... ."""
    found = []
    for entry in files(package).iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match:
            version, words = int(match[1]), match[2].replace("_", " ")
            found.append(Migration(version, words, statements(entry.read_text("utf-8"))))
    found.sort()
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations of {package} are not numbered 1..n: {found}")
    return tuple(found)


def migrations_table(package: str) -> str:
    """The statement that creates `schema_migrations` if it is missing."""
    (statement,) = statements(files(package).joinpath(MIGRATIONS_TABLE_FILE).read_text("utf-8"))
    return statement


class Connection(Protocol):
    """A DB-API connection whose `execute` returns a cursor (sqlite3's, psycopg's)."""

    def execute(self, statement: str, params: Sequence[Any] = ..., /) -> Any: ...


def apply_pending(
    conn: Connection, migrations: Sequence[Migration], *, param: str, applied_at: Any
) -> list[int]:
    """Applies, inside the caller's transaction, each migration not yet recorded; returns their
    versions. Refuses a database newer than the code: it may hold what this code would break.

    `param` is the database's positional placeholder; `applied_at` the time it records.
    """
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    latest = migrations[-1].version
    if max(done, default=0) > latest:
        raise SchemaOutOfDate(
            f"database schema {max(done)} is newer than this program knows ({latest})"
        )
    record = (
        "INSERT INTO schema_migrations (version, name, applied_at) "
        f"VALUES ({param}, {param}, {param})"
    )
    applied: list[int] = []
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(record, (migration.version, migration.name, applied_at))
        applied.append(migration.version)
    return applied
