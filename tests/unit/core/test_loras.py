"""LoRA per request and live previews in the use cases: `params.loras` is checked against the
registry (unknown, disabled, not a LoRA, another base, too many, scale out of range: 422
naming the field, nothing stored), the runner gets the installed LoRAs, the image's
parameters name them as AUTOMATIC1111 does, and previews reach the bus without being stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from dreamforge_core.domain.events import LivePreview
from dreamforge_core.errors import InvalidInput
from dreamforge_core.ports.runner import GeneratedImage, GenerationRequest, RunnerListener

from .conftest import SMALL, HarnessFactory, StubRunner, make_model

AUTOV3 = "abcdef0123456789" * 4


def lora(model_id: str = "detail-xl", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "id": model_id,
        "name": model_id,
        "kind": "sdxl-lora",
        "local_path": f"/models/{model_id}.safetensors",
        "checkpoint_hash": "11" * 32,
        "provenance": {"base_model": "SDXL 1.0", "autov3": AUTOV3},
    }
    values.update(overrides)
    return make_model(**values)


def sdxl_model() -> Any:
    return make_model(kind="sdxl-checkpoint")


def create(h: Any, **params: Any) -> Any:
    return h.create(body={"params": {"prompt": "a lighthouse", **SMALL, **params}})


def refused_fields(h: Any, **params: Any) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        create(h, **params)
    assert h.job_count() == 0
    assert h.queue.enqueued == []
    return [e["field"] for e in caught.value.details["errors"]]


@pytest.fixture
def h(make_harness: HarnessFactory) -> Any:
    others = [
        lora(),
        lora("pony-style", provenance={"base_model": "Pony"}),
        lora("off", enabled=False),
        lora("tiny-style", provenance={"base_model": "demo-sdxl-tiny"}),
    ]
    return make_harness(models=[sdxl_model(), *others])


def test_a_lora_of_the_models_base_is_accepted_and_normalised(h: Any) -> None:
    job = create(h, loras=[{"model_id": "detail-xl", "scale": 0.8}]).job
    assert job.params.to_dict()["loras"] == [{"model_id": "detail-xl", "scale": 0.8}]
    default_scale = create(h, loras=[{"model_id": "detail-xl"}]).job
    assert default_scale.params.loras[0].scale == 1.0


@pytest.mark.parametrize(
    ("loras", "field"),
    [
        ([{"model_id": "nope", "scale": 1}], "params.loras[0].model_id"),
        ([{"model_id": "off", "scale": 1}], "params.loras[0].model_id"),
        ([{"model_id": "pony-style", "scale": 1}], "params.loras[0].model_id"),
        ([{"model_id": "tiny-style", "scale": 1}], "params.loras[0].model_id"),
        ([{"model_id": "epicrealism-xl", "scale": 1}], "params.loras[0].model_id"),
        ([{"model_id": "detail-xl", "scale": 2.5}], "params.loras[0].scale"),
        ([{"model_id": "detail-xl", "scale": -2.01}], "params.loras[0].scale"),
        ([{"model_id": "detail-xl", "scale": True}], "params.loras[0].scale"),
        ([{"model_id": "detail-xl", "weight": 1}], "params.loras[0].weight"),
        ([{"model_id": "detail-xl"}, {"model_id": "detail-xl"}], "params.loras[1].model_id"),
        ([{"model_id": "detail-xl"}] * 6, "params.loras"),
        ({"model_id": "detail-xl"}, "params.loras"),
        (["detail-xl"], "params.loras[0]"),
    ],
)
def test_a_bad_lora_is_refused_naming_the_field(h: Any, loras: Any, field: str) -> None:
    assert field in refused_fields(h, loras=loras)


def test_a_lora_is_no_model_of_its_own(h: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        h.create(body={"model_id": "detail-xl", "params": {"prompt": "x", **SMALL}})
    assert [e["field"] for e in caught.value.details["errors"]] == ["model_id"]


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_preview_every_must_be_a_positive_integer(h: Any, value: Any) -> None:
    assert refused_fields(h, preview_every=value) == ["params.preview_every"]


def test_requests_without_the_new_fields_keep_their_stored_form(h: Any) -> None:
    params = create(h).job.params.to_dict()
    assert "loras" not in params
    assert "preview_every" not in params


def test_the_runner_gets_the_installed_loras_and_the_image_names_their_hashes(h: Any) -> None:
    job = create(h, loras=[{"model_id": "detail-xl", "scale": -0.5}]).job
    h.settle()
    [request] = h.runner.calls
    [applied] = request.loras
    assert (applied.model.id, applied.model.local_path, applied.scale) == (
        "detail-xl", "/models/detail-xl.safetensors", -0.5
    )  # fmt: skip
    assert h.job(job.id).state.value == "succeeded"
    [metadata] = h.encoder.metadata
    assert metadata is not None
    assert metadata.lora_hashes == (("detail-xl", AUTOV3[:12]),)
    assert f'Lora hashes: "detail-xl: {AUTOV3[:12]}", Version:' in metadata.a1111_parameters()


def test_a_lora_uninstalled_after_the_job_was_accepted_fails_it_as_bad_input(h: Any) -> None:
    job = create(h, loras=[{"model_id": "detail-xl", "scale": 1}]).job
    h.registry.upsert(lora(installed=False))
    h.settle()
    failed = h.job(job.id)
    assert failed.state.value == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_input"


class PreviewingRunner(StubRunner):
    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        listener.preview(1, 3, b"\xff\xd8jpeg")
        return super().generate(request, listener)


def test_previews_go_to_the_bus_and_are_never_stored(make_harness: HarnessFactory) -> None:
    h = make_harness(runner=PreviewingRunner())
    job = create(h, preview_every=1).job
    seen: list[LivePreview] = []
    h.bus.subscribe_previews(job.id, seen.append)
    h.settle()
    assert [(p.item_index, p.step, p.total) for p in seen] == [(0, 1, 3)]
    assert seen[0].image == "data:image/jpeg;base64,/9hqcGVn"
    assert not any("preview" in e.code for e in h.events(job.id))
