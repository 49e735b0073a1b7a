"""Where generation metadata lives inside an image file, shared by the writer and the reader.

The names are other tools' conventions, not ours to choose: AUTOMATIC1111's `parameters` text is
what CivitAI, A1111's "PNG Info" tab and ComfyUI's importer look for, and in a JPEG they look in
EXIF UserComment for the same text as `UNICODE\\0` + UTF-16 big-endian (piexif's encoding).
"""

from __future__ import annotations

PARAMETERS_KEY = "parameters"
"""PNG text chunk (and reader key) holding the AUTOMATIC1111 parameters text."""

FIELDS_KEY = "dreamforge"
"""PNG text chunk holding every `ImageMetadata.as_fields()` value as one JSON object."""

RESERVED_KEYS = frozenset({"prompt", "workflow"})
"""PNG chunk names ComfyUI reads as JSON graphs; a plain-text value there breaks its import."""

EXIF_IFD = 0x8769
IMAGE_DESCRIPTION = 0x010E  # Dream Forge's JSON fields, ASCII-only
SOFTWARE = 0x0131
USER_COMMENT = 0x9286  # in the Exif IFD; the A1111 text

UNICODE_PREFIX = b"UNICODE\0"
ASCII_PREFIX = b"ASCII\0\0\0"

MAX_EXIF_BYTES = 65533
"""A JPEG APP1 segment holds at most this many bytes, `Exif\\0\\0` header included."""
