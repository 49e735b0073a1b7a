"""The encoder writes what AUTOMATIC1111, CivitAI and our own reader find again, and nothing when
the caller opted out of metadata."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image, TiffImagePlugin

from dreamforge_adapters.imaging import (
    PillowImageEncoder,
    decode_user_comment,
    parse_a1111_parameters,
    read_embedded_metadata,
)
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.errors import DreamForgeError, InvalidInput
from dreamforge_core.ports.runner import GeneratedImage

CHECKPOINT = "0123456789abcdef" * 4
WIDTH, HEIGHT = 64, 48


def _image(width: int = WIDTH, height: int = HEIGHT) -> GeneratedImage:
    pixels = bytes(
        (x * 7 + y * 3 + c * 50) % 256
        for y in range(height)
        for x in range(width)
        for c in range(3)
    )
    return GeneratedImage(width, height, pixels)


BASE = ImageMetadata(
    prompt="café 猫, portrait: soft light",
    negative_prompt="blurry, low quality: 2",
    seed=1234567890,
    scheduler="dpmpp_2m_karras",
    steps=30,
    guidance=6.5,
    width=WIDTH,
    height=HEIGHT,
    model_name="epicrealism_v5",
    checkpoint_hash=CHECKPOINT,
    generator="Dream Forge 0.1.0",
)


def _metadata(prompt: str = BASE.prompt, **overrides: Any) -> ImageMetadata:
    return replace(BASE, prompt=prompt, **overrides)


@pytest.fixture
def encoder() -> PillowImageEncoder:
    return PillowImageEncoder()


@pytest.mark.parametrize(("fmt", "pillow_format"), [("png", "PNG"), ("jpg", "JPEG")])
def test_pixels_decode_to_the_given_size(
    encoder: PillowImageEncoder, fmt: str, pillow_format: str
) -> None:
    data = encoder.encode(_image(), fmt, _metadata())

    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == pillow_format
        assert picture.size == (WIDTH, HEIGHT)
        assert picture.mode == "RGB"


def test_png_pixels_are_lossless(encoder: PillowImageEncoder) -> None:
    image = _image()

    with Image.open(io.BytesIO(encoder.encode(image, "png", _metadata()))) as picture:
        assert picture.tobytes() == image.pixels


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize(
    "prompt",
    ["café 猫", "a cat, sitting: on a mat, 4k", 'line one\nline two: "quoted", end'],
)
def test_fields_read_back_as_written(encoder: PillowImageEncoder, fmt: str, prompt: str) -> None:
    metadata = _metadata(prompt)

    found = read_embedded_metadata(encoder.encode(_image(), fmt, metadata))

    assert found["parameters"] == metadata.a1111_parameters()
    assert {k: found[k] for k in metadata.as_fields()} == metadata.as_fields()


def test_png_leaves_the_chunks_comfyui_reads_as_json_alone(encoder: PillowImageEncoder) -> None:
    data = encoder.encode(_image(), "png", _metadata())

    assert b"tEXtprompt\0" not in data
    assert b"iTXtprompt\0" not in data
    assert read_embedded_metadata(data)["prompt"] == _metadata().prompt  # from the JSON chunk


def test_png_carries_the_fields_as_json_too(encoder: PillowImageEncoder) -> None:
    metadata = _metadata()

    found = read_embedded_metadata(encoder.encode(_image(), "png", metadata))

    assert json.loads(found["dreamforge"]) == metadata.as_fields()


def test_png_uses_itxt_only_where_latin1_cannot_hold_the_text(
    encoder: PillowImageEncoder,
) -> None:
    data = encoder.encode(_image(), "png", _metadata("café 猫"))

    assert b"iTXtparameters\0" in data  # "猫" is not latin-1
    assert b"tEXtseed\0" in data
    assert b"tEXtdreamforge\0" in data  # ASCII JSON


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_a1111_text_parses_back_to_the_settings(encoder: PillowImageEncoder, fmt: str) -> None:
    metadata = _metadata("a cat, sitting: on a mat")

    found = read_embedded_metadata(encoder.encode(_image(), fmt, metadata))
    parsed = parse_a1111_parameters(found["parameters"])

    assert parsed["prompt"] == "a cat, sitting: on a mat"
    assert parsed["negative_prompt"] == "blurry, low quality: 2"
    assert parsed["Seed"] == "1234567890"
    assert parsed["Steps"] == "30"
    assert parsed["Sampler"] == "DPM++ 2M"
    assert parsed["Schedule type"] == "Karras"
    assert parsed["CFG scale"] == "6.5"
    assert parsed["Size"] == f"{WIDTH}x{HEIGHT}"
    assert parsed["Model hash"] == CHECKPOINT[:10]
    assert parsed["Model"] == "epicrealism_v5"
    assert parsed["Version"] == "Dream Forge 0.1.0"


def test_quoted_values_in_the_settings_line_are_unquoted() -> None:
    metadata = _metadata(model_name="odd, name: v2", checkpoint_hash=None, negative_prompt="")

    parsed = parse_a1111_parameters(metadata.a1111_parameters())

    assert parsed["Model"] == "odd, name: v2"
    assert parsed["negative_prompt"] == ""
    assert "Model hash" not in parsed


def test_jpeg_user_comment_is_undefined_unicode_utf16_big_endian(
    encoder: PillowImageEncoder,
) -> None:
    metadata = _metadata("café 猫")
    data = encoder.encode(_image(), "jpg", metadata)

    with Image.open(io.BytesIO(data)) as picture:
        tiff = picture.info["exif"].removeprefix(b"Exif\0\0")
    stream = io.BytesIO(tiff)
    ifd0 = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    stream.seek(ifd0.next)
    ifd0.load(stream)
    exif_ifd = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    stream.seek(ifd0[0x8769])
    exif_ifd.load(stream)

    assert exif_ifd.tagtype[0x9286] == 7  # UNDEFINED, as piexif expects
    assert exif_ifd[0x9286] == b"UNICODE\0" + metadata.a1111_parameters().encode("utf-16-be")
    assert ifd0[0x0131] == "Dream Forge 0.1.0"
    assert json.loads(ifd0[0x010E]) == metadata.as_fields()


def test_jpeg_exif_too_long_for_one_segment_keeps_the_a1111_text(
    encoder: PillowImageEncoder,
) -> None:
    metadata = _metadata("猫" * 10_000, negative_prompt="é" * 10_000)

    found = read_embedded_metadata(encoder.encode(_image(), "jpg", metadata))

    assert found == {"parameters": metadata.a1111_parameters()}


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_no_metadata_writes_none(encoder: PillowImageEncoder, fmt: str) -> None:
    data = encoder.encode(_image(), fmt, None)

    assert read_embedded_metadata(data) == {}
    with Image.open(io.BytesIO(data)) as picture:
        assert "exif" not in picture.info
        assert not picture.getexif()
    assert b"tEXt" not in data
    assert b"iTXt" not in data


def test_wrong_pixel_count_is_an_internal_error(encoder: PillowImageEncoder) -> None:
    broken = GeneratedImage(WIDTH, HEIGHT, b"\0" * 10)

    with pytest.raises(DreamForgeError) as caught:
        encoder.encode(broken, "png", None)

    assert caught.value.code == "internal"
    assert isinstance(caught.value.__cause__, ValueError)


def test_unknown_format_is_an_internal_error(encoder: PillowImageEncoder) -> None:
    with pytest.raises(DreamForgeError) as caught:
        encoder.encode(_image(), "gif", None)

    assert caught.value.code == "internal"


def test_reading_something_that_is_not_an_image_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        read_embedded_metadata(b"not an image")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"UNICODE\0" + "猫 cat".encode("utf-16-be"), "猫 cat"),
        (b"UNICODE\0" + "猫 cat".encode("utf-16-le"), "猫 cat"),
        (b"UNICODE\0\xff\xfe" + "cat".encode("utf-16-le"), "cat"),
        (b"ASCII\0\0\0cat\0", "cat"),
    ],
)
def test_user_comment_decoding(raw: bytes, text: str) -> None:
    assert decode_user_comment(raw) == text
