"""Reads back the metadata an image carries, ours or another tool's.

Tests use it to prove what the encoder wrote is what other tools find; the CLI uses it to show
how an image was made. `parse_a1111_parameters` splits the AUTOMATIC1111 text the way A1111's
own "PNG Info" does, so a value that survives it survives CivitAI too.
"""

from __future__ import annotations

import io
import json
import re

from PIL import Image, PngImagePlugin

from dreamforge_adapters.imaging.conventions import (
    ASCII_PREFIX,
    EXIF_IFD,
    FIELDS_KEY,
    IMAGE_DESCRIPTION,
    PARAMETERS_KEY,
    UNICODE_PREFIX,
    USER_COMMENT,
)
from dreamforge_core.errors import InvalidInput

NEGATIVE_PREFIX = "Negative prompt:"
# A1111's `k: v` pattern: a value is either JSON-quoted or runs to the next comma.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def read_embedded_metadata(data: bytes) -> dict[str, str]:
    """PNG: every text chunk. JPEG (or any EXIF carrier): the UserComment text under
    `parameters`, plus the fields of an ImageDescription that holds a JSON object."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if isinstance(picture, PngImagePlugin.PngImageFile):
                chunks = {str(k): str(v) for k, v in picture.text.items()}
                fields = _json_fields(chunks[FIELDS_KEY]) if FIELDS_KEY in chunks else {}
                return {**fields, **chunks}
            exif = picture.getexif()
            comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
            description = exif.get(IMAGE_DESCRIPTION)
    except (OSError, ValueError, SyntaxError) as e:  # Pillow raises SyntaxError on broken files
        raise InvalidInput(f"not a readable image: {e}") from e
    found: dict[str, str] = {}
    if comment:
        found[PARAMETERS_KEY] = decode_user_comment(comment)
    if isinstance(description, str):
        found.update(_json_fields(description))
    return found


def decode_user_comment(raw: bytes | str) -> str:
    """EXIF UserComment: an 8-byte charset prefix, then text. A1111 and piexif write UTF-16
    big-endian; some tools write little-endian, which the position of the zero bytes gives away
    for the mostly-ASCII text prompts are."""
    if isinstance(raw, str):
        return raw.rstrip("\0")
    prefix, body = raw[:8], raw[8:]
    if prefix == UNICODE_PREFIX:
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encoding = "utf-16-le" if body[:2] == b"\xff\xfe" else "utf-16-be"
            body = body[2:]
        else:
            little = body[1::2].count(0) > body[0::2].count(0)
            encoding = "utf-16-le" if little else "utf-16-be"
        return body.decode(encoding, errors="replace").rstrip("\0")
    if prefix in (ASCII_PREFIX, b"\0" * 8):
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return raw.decode("utf-8", errors="replace").rstrip("\0")


def parse_a1111_parameters(text: str) -> dict[str, str]:
    """`prompt`, `negative_prompt`, then the last line's pairs under A1111's own names
    (`Steps`, `Sampler`, `CFG scale`, `Seed`, `Model hash`, …), JSON-quoted values unquoted.

    Unlike A1111 it keeps each prompt line's own whitespace, so our prompts round-trip exactly.
    """
    *lines, last = text.rstrip("\r\n").split("\n")
    if len(_PARAM.findall(last)) < 3:  # A1111's test for "this line is the settings line"
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if not negative and line.startswith(NEGATIVE_PREFIX):
            negative.append(line.removeprefix(NEGATIVE_PREFIX).removeprefix(" "))
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    parsed = {"prompt": "\n".join(prompt), "negative_prompt": "\n".join(negative)}
    for key, value in _PARAM.findall(last):
        parsed[key] = _unquote(value.strip())
    return parsed


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            unquoted = json.loads(value)
        except ValueError:
            return value
        return unquoted if isinstance(unquoted, str) else value
    return value


def _json_fields(text: str) -> dict[str, str]:
    """Another tool's ImageDescription is free text; only a JSON object is ours to unpack."""
    try:
        fields = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(fields, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
