"""The ModelRegistry contract, run against every implementation (see conftest.model_registry)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo, SqliteModelRegistry
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.ports.model_registry import ModelRegistry

T0 = datetime(2026, 3, 4, 5, 6, 7, 654321, tzinfo=UTC)


def make_model(model_id: str = "epicrealism-xl", *, enabled: bool = True) -> ModelDescriptor:
    return ModelDescriptor(
        id=model_id,
        name="EpicRealism XL",
        kind="sdxl-checkpoint",
        version="v16",
        created_at=T0,
        updated_at=T0,
        checkpoint_hash="c0ffee" * 10 + "abcd",
        source_uri="civitai:277058@1522905",
        local_path=f"/models/{model_id}.safetensors",
        installed=True,
        enabled=enabled,
        limits=ModelLimits(
            max_size=1536, schedulers=("euler", "dpmpp_2m_karras"), default_guidance=5.5
        ),
        capabilities=["generate", "img2img"],
        provenance={"files": [{"name": "x.safetensors", "sha256": "ab" * 32}], "size": 6.9e9},
    )


def fetch(registry: ModelRegistry, model_id: str) -> ModelDescriptor:
    model = registry.get(model_id)
    assert model is not None, f"model {model_id} is missing"
    return model


def test_get_of_an_unknown_model_is_none(model_registry: ModelRegistry) -> None:
    assert model_registry.get("nope") is None
    assert model_registry.list(include_disabled=True) == []


def test_an_id_with_a_nul_character_names_no_model(model_registry: ModelRegistry) -> None:
    model = make_model()
    model_registry.upsert(model)
    assert model_registry.get(model.id + "\x00") is None


def test_upsert_then_get_returns_an_equal_model(model_registry: ModelRegistry) -> None:
    model = make_model()

    model_registry.upsert(model)

    got = fetch(model_registry, model.id)
    assert got == model
    assert got is not model
    assert got.limits.schedulers == ("euler", "dpmpp_2m_karras")
    assert got.created_at.microsecond == 654321


def test_upsert_updates_but_keeps_the_first_created_at(model_registry: ModelRegistry) -> None:
    model_registry.upsert(make_model())
    later = T0 + timedelta(days=2)
    changed = replace(
        make_model(), created_at=later, updated_at=later, installed=False, version="v17",
        limits=ModelLimits(), provenance={},
    )  # fmt: skip

    model_registry.upsert(changed)

    assert model_registry.get(changed.id) == replace(changed, created_at=T0)


def test_list_hides_disabled_models_unless_asked(model_registry: ModelRegistry) -> None:
    for model in (make_model("b"), make_model("c", enabled=False), make_model("a")):
        model_registry.upsert(model)

    assert [m.id for m in model_registry.list()] == ["a", "b"]
    assert [m.id for m in model_registry.list(include_disabled=True)] == ["a", "b", "c"]
    assert model_registry.list()[0] == make_model("a")


def test_changing_a_returned_model_does_not_change_the_store(
    model_registry: ModelRegistry,
) -> None:
    model_registry.upsert(make_model())
    got = fetch(model_registry, "epicrealism-xl")
    got.enabled = False
    got.provenance["tampered"] = True

    assert model_registry.get("epicrealism-xl") == make_model()


def test_sqlite_registry_survives_reopening_and_shares_the_file(sqlite_path: Path) -> None:
    with SqliteDatabase(sqlite_path) as database:
        SqliteModelRegistry(database).upsert(make_model())
        SqliteJobRepo(database).ping()

    registry = SqliteModelRegistry(sqlite_path)
    try:
        assert registry.get("epicrealism-xl") == make_model()
    finally:
        registry.close()
