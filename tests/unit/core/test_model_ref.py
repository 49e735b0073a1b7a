"""Model references (FR-092): `hf:<repo>[@<rev>][#<file>]`, `civitai:<id|slug>[@<version>]`."""

from __future__ import annotations

import pytest

from dreamforge_core.domain.model_ref import ModelRef, parse_model_ref
from dreamforge_core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf:gpt2", ModelRef("hf", "gpt2")),
        (
            "hf:stabilityai/stable-diffusion-xl-base-1.0",
            ModelRef("hf", "stabilityai/stable-diffusion-xl-base-1.0"),
        ),
        ("hf:owner/name@v1.0", ModelRef("hf", "owner/name", "v1.0")),
        (
            "hf:owner/name@0123abcd0123abcd0123abcd0123abcd0123abcd",
            ModelRef("hf", "owner/name", "0123abcd0123abcd0123abcd0123abcd0123abcd"),
        ),
        (
            "hf:owner/name#model.safetensors",
            ModelRef("hf", "owner/name", None, "model.safetensors"),
        ),
        (
            "hf:owner/name@refs/pr/1#unet/*.safetensors",
            ModelRef("hf", "owner/name", "refs/pr/1", "unet/*.safetensors"),
        ),
        ("  hf:owner/name  ", ModelRef("hf", "owner/name")),
        ("civitai:277058", ModelRef("civitai", "277058")),
        ("civitai:epicrealism-xl", ModelRef("civitai", "epicrealism-xl")),
        ("civitai:277058@312345", ModelRef("civitai", "277058", "312345")),
        ("civitai:epic_realism@1", ModelRef("civitai", "epic_realism", "1")),
        # a plug-in source's prefix (FR-095): whether it is installed is checked elsewhere
        ("s3:bucket/model", ModelRef("s3", "bucket/model")),
        (
            "my-src_2:Model.v1@2024-01#unet/*.bin",
            ModelRef("my-src_2", "Model.v1", "2024-01", "unet/*.bin"),
        ),
    ],
)
def test_valid_references_parse(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "hf:owner/name@v1.0#unet/*.safetensors",
        "hf:owner/name",
        "civitai:277058@312345",
        "civitai:slug",
        "mysrc:name@v2#file.safetensors",
    ],
)
def test_a_reference_prints_as_it_was_written(text: str) -> None:
    assert str(parse_model_ref(text)) == text
    assert parse_model_ref(str(parse_model_ref(text))) == parse_model_ref(text)


def test_the_default_revision_is_main() -> None:
    assert parse_model_ref("hf:owner/name").revision == "main"
    assert parse_model_ref("hf:owner/name@dev").revision == "dev"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hf",
        "hf:",
        "owner/name",
        ":owner/name",
        "HF:owner/name",
        "S3:bucket/model",
        "my src:model",
        "1src:model",
        "s3:",
        "s3:bucket model",
        "s3:model@",
        "s3:model@1@2",
        "s3:model#",
        "s3:model#a b",
        "s3:@1",
        "hf:/name",
        "hf:owner/",
        "hf:owner/name/extra",
        "hf:owner name/x",
        "hf:-owner/name",
        "hf:owner/name@",
        "hf:owner/name#",
        "hf:owner/name@#file",
        "civitai:",
        "civitai:-slug",
        "civitai:a/b",
        "civitai:277058#file.safetensors",
        "civitai:277058@",
        "civitai:277058@v2",
        "civitai:277058@-1",
    ],
)
def test_invalid_references_raise_invalid_input_naming_ref(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_model_ref(text)
    [error] = caught.value.details["errors"]
    assert error["field"] == "ref"
    assert repr(text) in error["message"]


@pytest.mark.parametrize(
    "text", ["hf:owner/name\n@main", "civitai:277058\n@1", "mysrc:name\n@1", "mysrc:na\nme"]
)
def test_a_name_with_a_trailing_newline_is_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_model_ref(text)


@pytest.mark.parametrize(
    "revision",
    [
        "../main",
        "refs/../main",
        "..",
        "/main",
        "main/",
        "a//b",
        ".hidden",
        "ma in",
        "ma\nin",
        "a\x00b",
        "a?b=1",
        "a%2F..",
        "a\\b",
        "ré",
        "x" * 256,
    ],
)
def test_an_unsafe_hf_revision_is_refused_naming_the_revision(revision: str) -> None:
    with pytest.raises(InvalidInput, match="revision"):
        parse_model_ref(f"hf:owner/name@{revision}")


@pytest.mark.parametrize(
    "revision", ["main", "v1.0", "refs/pr/1", "refs/convert/parquet", "my_branch-2", "x" * 255]
)
def test_ordinary_hf_revisions_parse(revision: str) -> None:
    assert parse_model_ref(f"hf:owner/name@{revision}").revision == revision
