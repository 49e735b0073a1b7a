"""Models every deployment knows without a download."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.use_cases.verify_models import VerifyModels

log = logging.getLogger(__name__)

FAKE_MODEL_ID = "fake-sdxl"


def fake_model(now: datetime) -> ModelDescriptor:
    """The model the fake runner serves: SDXL-shaped limits, no weights, a fixed hash."""
    return ModelDescriptor(
        id=FAKE_MODEL_ID,
        name="fake-sdxl",
        kind="fake",
        version="1",
        created_at=now,
        updated_at=now,
        checkpoint_hash=hashlib.sha256(b"dreamforge fake runner v1").hexdigest(),
        source_uri="builtin:fake",
        installed=True,
        enabled=True,
        limits=ModelLimits(min_size=64),
        capabilities=["generate"],
        provenance={"source": "builtin", "note": "deterministic test double, no weights"},
    )


def ensure_builtin_models(runner: str, registry: ModelRegistry, now: datetime) -> None:
    """The fake runner serves its own model; register it where that runner is configured."""
    if runner == "fake" and registry.get(FAKE_MODEL_ID) is None:
        registry.upsert(fake_model(now))


def validate_registry(registry: ModelRegistry, clock: Clock) -> None:
    """At start-up: a model whose files are gone or truncated is marked not installed (jobs
    on it are refused with a clear error); `dreamforge model verify` re-hashes in full."""
    for check in VerifyModels(registry, clock)(deep=False):
        if not check.ok:
            log.warning(
                "model %s marked not installed: %s", check.model_id, "; ".join(check.problems)
            )
        elif check.changed:
            log.info("model %s is complete again: marked installed", check.model_id)


def checked_registry(registry: ModelRegistry, runner: str, clock: Clock) -> ModelRegistry:
    """The registry as a process that serves jobs starts on it: the built-in models in, and
    the models whose files are gone marked."""
    ensure_builtin_models(runner, registry, clock.now())
    validate_registry(registry, clock)
    return registry
