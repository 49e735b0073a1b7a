"""Parameter validation (`validate_params`) and the JSON Schema built from the same limits.

It is one module because it mirrors `params.py`: the validator and the schema are checked
against the same limits side by side.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dreamforge_core.domain.params import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    SCHEDULERS,
    GenerateParams,
    ModelLimits,
    parameters_schema,
    validate_params,
)
from dreamforge_core.domain.presets import DEFAULT_PRESETS, Preset
from dreamforge_core.errors import InvalidInput

LIMITS = ModelLimits()


def errors_of(
    raw: Any, limits: ModelLimits = LIMITS, presets: Any = DEFAULT_PRESETS
) -> dict[str, Any]:
    """Field -> message of the InvalidInput that validation raises for `raw`."""
    with pytest.raises(InvalidInput) as caught:
        validate_params(raw, limits, presets)
    assert caught.value.code == "invalid_input"
    return {e["field"]: e["message"] for e in caught.value.details["errors"]}


def valid(**params: Any) -> GenerateParams:
    return validate_params({"prompt": "a cat", **params}, LIMITS, DEFAULT_PRESETS)


# --- the rules, one at a time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "params.prompt"),
        ({"prompt": ""}, "params.prompt"),
        ({"prompt": "   \n\t"}, "params.prompt"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "params.prompt"),
        ({"prompt": 42}, "params.prompt"),
        ({"prompt": None}, "params.prompt"),
        (
            {"prompt": "p", "negative_prompt": "x" * (MAX_PROMPT_CHARS + 1)},
            "params.negative_prompt",
        ),
        ({"prompt": "p", "negative_prompt": ["no"]}, "params.negative_prompt"),
        ({"prompt": "p", "count": 0}, "params.count"),
        ({"prompt": "p", "count": 101}, "params.count"),
        ({"prompt": "p", "count": True}, "params.count"),
        ({"prompt": "p", "count": 2.0}, "params.count"),
        ({"prompt": "p", "width": 1020}, "params.width"),
        ({"prompt": "p", "height": 1001}, "params.height"),
        ({"prompt": "p", "width": 2056}, "params.width"),
        ({"prompt": "p", "height": 248}, "params.height"),
        ({"prompt": "p", "width": "1024"}, "params.width"),
        ({"prompt": "p", "steps": 0}, "params.steps"),
        ({"prompt": "p", "steps": 151}, "params.steps"),
        ({"prompt": "p", "steps": True}, "params.steps"),
        ({"prompt": "p", "steps": 30.5}, "params.steps"),
        ({"prompt": "p", "guidance": -0.1}, "params.guidance"),
        ({"prompt": "p", "guidance": 30.01}, "params.guidance"),
        ({"prompt": "p", "guidance": "6"}, "params.guidance"),
        ({"prompt": "p", "guidance": False}, "params.guidance"),
        ({"prompt": "p", "scheduler": "lms"}, "params.scheduler"),
        ({"prompt": "p", "scheduler": 1}, "params.scheduler"),
        ({"prompt": "p", "sampler": "euler"}, "params.sampler"),
        ({"prompt": "p", "seed": -1}, "params.seed"),
        ({"prompt": "p", "seed": MAX_SEED + 1}, "params.seed"),
        ({"prompt": "p", "seed": True}, "params.seed"),
        ({"prompt": "p", "seed": "42"}, "params.seed"),
        ({"prompt": "p", "format": "jpeg"}, "params.format"),
        ({"prompt": "p", "format": "PNG"}, "params.format"),
        ({"prompt": "p", "embed_metadata": 1}, "params.embed_metadata"),
        ({"prompt": "p", "embed_metadata": "true"}, "params.embed_metadata"),
        ({"prompt": "p", "embed_metadata": None}, "params.embed_metadata"),
        ({"prompt": "p", "preset": "ultra"}, "params.preset"),
        ({"prompt": "p", "preset": 3}, "params.preset"),
    ],
)
def test_each_broken_rule_names_its_field(raw: dict[str, Any], field: str) -> None:
    assert list(errors_of(raw)) == [field]


def test_params_must_be_an_object() -> None:
    assert list(errors_of(["prompt"])) == ["params"]
    assert list(errors_of(None)) == ["params"]


def test_every_broken_rule_is_reported_in_one_error() -> None:
    raw = {
        "prompt": "",
        "count": 101,
        "width": 1001,
        "height": 4096,
        "steps": 0,
        "guidance": "high",
        "scheduler": "lms",
        "seed": -5,
        "format": "gif",
        "embed_metadata": "yes",
        "preset": "ultra",
        "style": "noir",
    }
    assert set(errors_of(raw)) == {
        "params.prompt",
        "params.count",
        "params.width",
        "params.height",
        "params.steps",
        "params.guidance",
        "params.scheduler",
        "params.seed",
        "params.format",
        "params.embed_metadata",
        "params.preset",
        "params.style",
    }


def test_the_message_lists_each_offending_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_params({"prompt": "p", "count": 0, "width": 3}, LIMITS, DEFAULT_PRESETS)
    assert "params.count" in caught.value.message
    assert "params.width" in caught.value.message


def test_boundaries_are_inclusive() -> None:
    params = valid(
        count=100, width=2048, height=256, steps=150, guidance=30, seed=MAX_SEED, format="jpg"
    )
    assert (params.count, params.width, params.height, params.steps) == (100, 2048, 256, 150)
    assert params.guidance == 30.0
    assert isinstance(params.guidance, float)
    assert params.seed == MAX_SEED
    low = valid(count=1, width=256, steps=1, guidance=0, seed=0, prompt="x" * MAX_PROMPT_CHARS)
    assert (low.count, low.width, low.steps, low.guidance, low.seed) == (1, 256, 1, 0.0, 0)


def test_a_null_seed_means_no_seed() -> None:
    assert valid(seed=None).seed is None


def test_every_scheduler_of_the_model_is_accepted() -> None:
    for name in SCHEDULERS:
        assert valid(scheduler=name).scheduler == name


# --- defaults and presets -----------------------------------------------------------------------


def test_defaults_come_from_the_model_limits() -> None:
    limits = ModelLimits(
        default_width=512,
        default_height=768,
        default_steps=20,
        default_guidance=4.5,
        default_scheduler="euler",
    )
    params = validate_params({"prompt": "a cat"}, limits, DEFAULT_PRESETS)
    assert params == GenerateParams(
        prompt="a cat",
        width=512,
        height=768,
        steps=20,
        guidance=4.5,
        scheduler="euler",
        negative_prompt="",
        seed=None,
        format="png",
        embed_metadata=True,
        count=1,
        preset=None,
    )


def test_limits_of_another_model_apply() -> None:
    limits = ModelLimits(max_size=1024, max_steps=50, schedulers=("euler",))
    fields = errors_of(
        {"prompt": "p", "width": 1032, "steps": 51, "scheduler": "ddim"}, limits=limits
    )
    assert set(fields) == {"params.width", "params.steps", "params.scheduler"}


def test_a_preset_fills_values_the_request_leaves_out() -> None:
    params = valid(preset="draft")
    draft = DEFAULT_PRESETS["draft"]
    assert (params.width, params.height, params.steps) == (draft.width, draft.height, draft.steps)
    assert (params.guidance, params.scheduler) == (draft.guidance, draft.scheduler)
    assert params.preset == "draft"


def test_explicit_values_override_the_preset() -> None:
    params = valid(preset="draft", width=1024, steps=40, guidance=7.5, scheduler="ddim")
    assert (params.width, params.steps, params.guidance, params.scheduler) == (
        1024,
        40,
        7.5,
        "ddim",
    )
    assert params.height == DEFAULT_PRESETS["draft"].height  # not given: still the preset's


def test_a_preset_is_clamped_to_the_model_sizes_and_steps() -> None:
    limits = ModelLimits(max_size=512, max_steps=10)
    params = validate_params({"prompt": "p", "preset": "draft"}, limits, DEFAULT_PRESETS)
    assert (params.width, params.height, params.steps) == (512, 512, 10)


def test_a_preset_scheduler_the_model_lacks_falls_back_to_the_default() -> None:
    limits = ModelLimits(schedulers=("euler", "ddim"), default_scheduler="ddim")
    params = validate_params({"prompt": "p", "preset": "draft"}, limits, DEFAULT_PRESETS)
    assert params.scheduler == "ddim"


def test_a_preset_guidance_is_clamped_to_the_model_limits() -> None:
    limits = ModelLimits(max_guidance=4.0, default_guidance=3.0)
    params = validate_params({"prompt": "p", "preset": "draft"}, limits, DEFAULT_PRESETS)
    assert params.guidance <= limits.max_guidance


def test_only_the_given_presets_are_known() -> None:
    presets = {"tiny": Preset("tiny", "small", 256, 256, 4)}
    params = validate_params({"prompt": "p", "preset": "tiny"}, LIMITS, presets)
    assert (params.width, params.steps) == (256, 4)
    assert "params.preset" in errors_of({"prompt": "p", "preset": "draft"}, presets=presets)
    assert (
        "(none defined)"
        in errors_of({"prompt": "p", "preset": "draft"}, presets={})["params.preset"]
    )


def test_validated_params_round_trip_through_their_dict() -> None:
    params = valid(seed=7, count=1, negative_prompt="blur", preset="balanced", format="jpg")
    assert GenerateParams.from_dict(params.to_dict()) == params


@pytest.mark.parametrize(
    ("seed", "count", "honoured"), [(7, 1, True), (7, 2, False), (None, 1, False)]
)
def test_a_seed_is_honoured_only_for_one_image(
    seed: int | None, count: int, honoured: bool
) -> None:
    assert valid(seed=seed, count=count).seed_honoured is honoured


# --- parameters_schema agrees with validation ------------------------------------------------

SCHEMA = parameters_schema(LIMITS, DEFAULT_PRESETS)
SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_the_schema_is_a_valid_json_schema_with_the_model_defaults() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    props = SCHEMA["properties"]
    assert props["width"]["default"] == LIMITS.default_width
    assert props["steps"]["default"] == LIMITS.default_steps
    assert props["scheduler"]["default"] == LIMITS.default_scheduler
    assert set(props) == set(GenerateParams.__dataclass_fields__)
    assert SCHEMA["required"] == ["prompt"]


def accepted_by_validation(raw: dict[str, Any]) -> bool:
    try:
        validate_params(raw, LIMITS, DEFAULT_PRESETS)
    except InvalidInput:
        return False
    return True


def not_integral(x: float) -> bool:
    return not x.is_integer()


# JSON-like values of every type, so each field sees wrong types as well as wrong values.
# Integral floats (1024.0) are left out: JSON Schema counts them as integers, validation does not.
_noise = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.floats(-1e4, 1e4, allow_nan=False).filter(not_integral),
    st.lists(st.integers(), max_size=1),
)
_sizes = st.one_of(st.sampled_from([248, 256, 1000, 1024, 2048, 2056]), st.integers(-8, 2100))
PARAM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "prompt": st.one_of(st.text(max_size=8), st.just("x" * (MAX_PROMPT_CHARS + 1)), _noise),
    "negative_prompt": st.one_of(st.text(max_size=8), _noise),
    "seed": st.one_of(st.integers(-3, MAX_SEED + 3), st.just(MAX_SEED + 1), _noise),
    "width": st.one_of(_sizes, _noise),
    "height": st.one_of(_sizes, _noise),
    "steps": st.one_of(st.integers(-2, 160), _noise),
    "guidance": st.one_of(
        st.floats(-5, 40, allow_nan=False), st.integers(-5, 40), st.booleans(), st.text(max_size=2)
    ),
    "scheduler": st.one_of(st.sampled_from([*SCHEDULERS, "lms", "Euler", ""]), _noise),
    "format": st.one_of(st.sampled_from(["png", "jpg", "jpeg", "PNG"]), _noise),
    "embed_metadata": st.one_of(st.booleans(), st.integers(0, 1), _noise),
    "count": st.one_of(st.integers(-1, 102), _noise),
    "preset": st.one_of(st.sampled_from([*DEFAULT_PRESETS, "ultra"]), _noise),
    "unknown_field": st.integers(),
}


@st.composite
def param_dicts(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.sets(st.sampled_from(sorted(PARAM_VALUES))))
    # Mostly valid prompts, so the other rules get exercised too.
    if draw(st.integers(0, 4)):
        names.add("prompt")
    raw = {name: draw(PARAM_VALUES[name]) for name in sorted(names)}
    if "prompt" in raw and draw(st.integers(0, 3)):
        raw["prompt"] = draw(st.text(min_size=1, max_size=8).filter(str.strip))
    return raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(param_dicts())
def test_the_schema_accepts_whatever_validation_accepts(raw: dict[str, Any]) -> None:
    if accepted_by_validation(raw):
        assert SCHEMA_VALIDATOR.is_valid(raw), list(SCHEMA_VALIDATOR.iter_errors(raw))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(param_dicts())
def test_validation_accepts_whatever_the_schema_accepts(raw: dict[str, Any]) -> None:
    assert SCHEMA_VALIDATOR.is_valid(raw) == accepted_by_validation(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"prompt": "p"},
        {"prompt": "p", "seed": None, "preset": None},
        {"prompt": "p", "width": 512, "height": 768, "count": 4, "guidance": 7, "format": "jpg"},
        {"prompt": "p", "preset": "draft", "scheduler": "heun", "embed_metadata": False},
    ],
)
def test_examples_valid_for_both(raw: dict[str, Any]) -> None:
    assert SCHEMA_VALIDATOR.is_valid(raw)
    assert accepted_by_validation(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"prompt": ""},
        {"prompt": "p", "width": 1020},
        {"prompt": "p", "count": True},
        {"prompt": "p", "scheduler": "lms"},
        {"prompt": "p", "extra": 1},
        {"prompt": "p", "preset": "ultra"},
        {"prompt": "p", "embed_metadata": None},
    ],
)
def test_examples_invalid_for_both(raw: dict[str, Any]) -> None:
    assert not SCHEMA_VALIDATOR.is_valid(raw)
    assert not accepted_by_validation(raw)


def test_the_schema_rejects_a_blank_prompt_like_validation_does() -> None:
    assert not accepted_by_validation({"prompt": "   "})
    assert not SCHEMA_VALIDATOR.is_valid({"prompt": "   "})


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_nul_characters_are_rejected(field: str) -> None:
    raw = {"prompt": "a cat", field: "a\x00cat"}
    with pytest.raises(InvalidInput) as caught:
        validate_params(raw, ModelLimits(), DEFAULT_PRESETS)
    assert caught.value.details["errors"] == [
        {"field": f"params.{field}", "message": "must not contain NUL characters"}
    ]
