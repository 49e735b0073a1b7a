"""A minimal EXIF block written by hand, because Pillow cannot write UserComment correctly.

Pillow does not know UserComment's type and stores bytes as BYTE (1); the EXIF spec says
UNDEFINED (7), and piexif (which AUTOMATIC1111 reads with) turns a BYTE value into a tuple of
ints that its UserComment decoder rejects. Three tags in IFD0 and one in the Exif IFD are all we
write, so a few lines of `struct` give exact control. Big-endian, like piexif's output.
"""

from __future__ import annotations

import struct

from dreamforge_adapters.imaging.conventions import (
    EXIF_IFD,
    IMAGE_DESCRIPTION,
    SOFTWARE,
    USER_COMMENT,
)

_ASCII = 2
_LONG = 4
_UNDEFINED = 7
_HEADER = b"Exif\0\0"
_TIFF_HEADER = b"MM\x00\x2a" + struct.pack(">I", 8)  # big-endian, IFD0 right after

_Entry = tuple[int, int, bytes]  # tag, type, value bytes


def build_exif(software: str, description: str | None, user_comment: bytes | None) -> bytes:
    """The APP1 payload (`Exif\\0\\0` + TIFF) Pillow's JPEG writer takes as `exif=`."""
    ifd0: list[_Entry] = [(SOFTWARE, _ASCII, _ascii(software))]
    if description is not None:
        ifd0.append((IMAGE_DESCRIPTION, _ASCII, _ascii(description)))
    if user_comment is None:
        return _HEADER + _TIFF_HEADER + _ifd(sorted(ifd0), 8)
    # The Exif IFD follows IFD0; its offset is known once IFD0's size is.
    pointer_placeholder = (EXIF_IFD, _LONG, b"\0\0\0\0")
    first_size = len(_ifd(sorted([*ifd0, pointer_placeholder]), 8))
    exif_offset = _even(8 + first_size)
    ifd0.append((EXIF_IFD, _LONG, struct.pack(">I", exif_offset)))
    first = _ifd(sorted(ifd0), 8).ljust(exif_offset - 8, b"\0")
    second = _ifd([(USER_COMMENT, _UNDEFINED, user_comment)], exif_offset)
    return _HEADER + _TIFF_HEADER + first + second


def _ifd(entries: list[_Entry], offset: int) -> bytes:
    """One IFD at `offset` (from the TIFF header), its long values in a data area after it."""
    data_offset = offset + 2 + 12 * len(entries) + 4
    table = struct.pack(">H", len(entries))
    data = b""
    for tag, typ, value in entries:
        count = len(value) if typ != _LONG else len(value) // 4
        if len(value) <= 4:
            table += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack(">HHII", tag, typ, count, data_offset + len(data))
            data += value + b"\0" * (len(value) % 2)  # values start on word boundaries
    return table + struct.pack(">I", 0) + data


def _ascii(text: str) -> bytes:
    return text.encode("ascii", errors="replace") + b"\0"


def _even(n: int) -> int:
    return n + n % 2
