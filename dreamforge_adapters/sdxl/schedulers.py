"""Sampler names of the public API mapped onto diffusers schedulers.

A request's sampler is built fresh from the model's *original* scheduler config, so one
request's choice never leaks into the next (a karras flag set for `dpmpp_2m_karras` would
otherwise carry over into a later `euler`). The base config holds what belongs to the model
(betas, prediction type, timestep spacing); the overrides below hold what belongs to the
sampler name, so a name means the same sampler whatever the model's own default is.

Only the child process imports this module (it imports diffusers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.configuration_utils import FrozenDict

_NO_KARRAS = {"use_karras_sigmas": False}
_DPMPP_2M = {"algorithm_type": "dpmsolver++", "solver_order": 2}

SCHEDULERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "euler": (EulerDiscreteScheduler, _NO_KARRAS),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {**_DPMPP_2M, **_NO_KARRAS}),
    "dpmpp_2m_karras": (DPMSolverMultistepScheduler, {**_DPMPP_2M, "use_karras_sigmas": True}),
    "dpmpp_2m_sde": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, **_NO_KARRAS},
    ),
    "ddim": (DDIMScheduler, {}),
    "unipc": (UniPCMultistepScheduler, _NO_KARRAS),
    "heun": (HeunDiscreteScheduler, _NO_KARRAS),
}

# Resolved configs by (name, fingerprint of the base config). Few models x eight names, so
# the cache stays small; it spares re-merging and re-validating the config on every request.
_resolved: dict[tuple[str, str], FrozenDict] = {}
_MAX_RESOLVED = 64


def _fingerprint(config: Mapping[str, Any]) -> str:
    return json.dumps(dict(config), sort_keys=True, default=repr)


def make_scheduler(name: str, base_config: Mapping[str, Any]) -> Any:
    """A new scheduler instance for sampler `name`; raises ValueError for an unknown name."""
    try:
        cls, overrides = SCHEDULERS[name]
    except KeyError:
        known = ", ".join(SCHEDULERS)
        raise ValueError(f"unknown scheduler {name!r}; expected one of {known}") from None
    key = (name, _fingerprint(base_config))
    config = _resolved.get(key)
    if config is None:
        scheduler = cls.from_config(base_config, **overrides)
        if len(_resolved) >= _MAX_RESOLVED:
            _resolved.clear()
        _resolved[key] = scheduler.config
        return scheduler
    return cls.from_config(config)
