"""How SQLite holds the shared records: JSON as text through msgspec (about ten times faster
than the json module on these small documents) and timestamps as the core's fixed-width ISO
text, so the text columns sort as times. Parameters are named (`:column`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from dreamforge_adapters.sql.dialect import Dialect, Values
from dreamforge_core.domain.clock import iso


def _fallback(value: Any) -> Any:
    """An odd value in free-form event data is stored as its text rather than failing a save."""
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback)
_decoder = msgspec.json.Decoder()


def dumps(value: Any) -> str:
    return _encoder.encode(value).decode()


def loads(text: str) -> Any:
    return _decoder.decode(text)


VALUES = Values(json_out=dumps, json_in=loads, time_out=iso, time_in=datetime.fromisoformat)


def param(column: str) -> str:
    return ":" + column


DIALECT = Dialect(values=VALUES, param=param, json_param=param, text_order="", text_holds_nul=True)


def params(columns: tuple[str, ...]) -> str:
    """The VALUES list binding each column by its name."""
    return ", ".join(param(c) for c in columns)
