"""Image metadata in the AUTOMATIC1111 `parameters` form that CivitAI and other tools parse."""

from __future__ import annotations

import json
from dataclasses import replace

from dreamforge_core.domain.metadata import A1111_SAMPLERS, ImageMetadata
from dreamforge_core.domain.params import SCHEDULERS

HASH = "9f8e7d6c5b4a39281706f5e4d3c2b1a0" * 2

BASE = ImageMetadata(
    prompt="a lighthouse at dusk",
    negative_prompt="blurry",
    seed=42,
    scheduler="dpmpp_2m_karras",
    steps=30,
    guidance=6.0,
    width=1024,
    height=768,
    model_name="epicrealismXL_v8",
    checkpoint_hash=HASH,
    generator="dreamforge 0.1.0",
)


def test_the_full_a1111_text() -> None:
    assert BASE.a1111_parameters() == (
        "a lighthouse at dusk\n"
        "Negative prompt: blurry\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 42, "
        "Size: 1024x768, Model hash: 9f8e7d6c5b, Model: epicrealismXL_v8, "
        "Version: dreamforge 0.1.0"
    )


def test_the_negative_prompt_line_is_left_out_when_empty() -> None:
    lines = replace(BASE, negative_prompt="").a1111_parameters().split("\n")
    assert len(lines) == 2
    assert lines[0] == "a lighthouse at dusk"
    assert lines[1].startswith("Steps: 30, ")
    assert "Negative prompt" not in lines[1]


def test_the_model_hash_is_the_first_ten_hex_digits_and_omitted_without_a_hash() -> None:
    assert "Model hash: 9f8e7d6c5b," in BASE.a1111_parameters()
    text = replace(BASE, checkpoint_hash=None).a1111_parameters()
    assert "Model hash" not in text
    assert "Size: 1024x768, Model: epicrealismXL_v8" in text


def test_a_fractional_cfg_scale_keeps_its_fraction() -> None:
    assert "CFG scale: 5.5," in replace(BASE, guidance=5.5).a1111_parameters()
    assert "CFG scale: 7," in replace(BASE, guidance=7.0).a1111_parameters()


def test_every_scheduler_has_an_a1111_sampler_name() -> None:
    assert set(A1111_SAMPLERS) == set(SCHEDULERS)
    for scheduler in SCHEDULERS:
        sampler, schedule = A1111_SAMPLERS[scheduler]
        line = replace(BASE, scheduler=scheduler).a1111_parameters().split("\n")[-1]
        assert f"Sampler: {sampler}," in line
        assert ("Schedule type:" in line) is (schedule is not None)


def test_values_with_commas_colons_or_newlines_are_json_quoted() -> None:
    meta = replace(BASE, model_name="sdxl, v2: final", generator="dreamforge\nbeta")
    line = meta.a1111_parameters().split("\n")[-1]
    assert 'Model: "sdxl, v2: final",' in line
    assert line.endswith('Version: "dreamforge\\nbeta"')
    # The quoted values decode back to the originals.
    assert json.loads('"sdxl, v2: final"') == meta.model_name


def test_plain_values_are_not_quoted() -> None:
    line = BASE.a1111_parameters().split("\n")[-1]
    assert '"' not in line


def test_the_prompt_lines_are_written_as_given() -> None:
    meta = replace(BASE, prompt="a, b: c", negative_prompt="x, y")
    lines = meta.a1111_parameters().split("\n")
    assert lines[:2] == ["a, b: c", "Negative prompt: x, y"]


def test_fields_carry_every_value_as_text() -> None:
    assert BASE.as_fields() == {
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "blurry",
        "seed": "42",
        "scheduler": "dpmpp_2m_karras",
        "steps": "30",
        "guidance": "6",
        "width": "1024",
        "height": "768",
        "model": "epicrealismXL_v8",
        "checkpoint_hash": HASH,
        "generator": "dreamforge 0.1.0",
    }
    assert replace(BASE, checkpoint_hash=None).as_fields()["checkpoint_hash"] == ""


def test_image_to_image_inpainting_and_hires_values_follow_the_model_as_a1111_writes_them() -> None:
    shaped = replace(BASE, denoising_strength=0.5, mask_blur=4, hires_upscale=1.5, hires_steps=10)
    assert shaped.a1111_parameters().endswith(
        "Model: epicrealismXL_v8, Denoising strength: 0.5, Mask blur: 4, Hires upscale: 1.5, "
        "Hires steps: 10, Version: dreamforge 0.1.0"
    )
    fields = shaped.as_fields()
    assert (fields["denoising_strength"], fields["mask_blur"]) == ("0.5", "4")
    assert (fields["hires_upscale"], fields["hires_steps"]) == ("1.5", "10")
    assert "denoising_strength" not in BASE.as_fields()
    assert "Denoising strength" not in BASE.a1111_parameters()
