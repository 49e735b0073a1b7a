"""How one database spells parameters and holds JSON and times, and how shared code reads it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Row(Protocol):
    """A result row read by column name (`sqlite3.Row`, a psycopg `dict_row`)."""

    def __getitem__(self, column: str, /) -> Any: ...


class SqlStore(Protocol):
    """The two operations the shared code needs from a database."""

    def fetch(self, statement: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of one read."""
        ...

    def execute(self, statement: str, params: Mapping[str, Any]) -> None:
        """One write, committed when this returns."""
        ...


def same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Values:
    """How JSON documents and timestamps travel to a column and back.

    SQLite keeps both as text; Postgres takes `datetime` and JSON text (cast to jsonb) in
    statement parameters, returns them decoded, and wants ISO text inside JSON documents.
    """

    json_out: Callable[[Any], Any]
    json_in: Callable[[Any], Any]
    time_out: Callable[[datetime | None], Any]
    time_in: Callable[[Any], datetime]

    def time(self, value: Any) -> datetime | None:
        return None if value is None else self.time_in(value)


@dataclass(frozen=True, slots=True)
class Dialect:
    """A database as the shared statements see it."""

    values: Values
    param: Callable[[str], str]  # the named placeholder of a column: ":id", "%(id)s"
    json_param: Callable[[str], str]  # the same for a JSON column
    text_order: str  # appended to ORDER BY a text column: the code-point order of all stores
    text_holds_nul: bool  # False where a text value cannot hold NUL, so no stored id has one
