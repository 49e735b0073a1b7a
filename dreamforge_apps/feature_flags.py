"""The feature flags: every setting that switches a feature on or off for a while, with its
owner, the release it expires in and the task that removes it, in this one place.

A flag is temporary by definition: it lives at most two releases (a release is a minor
version, `0.1` → `0.3`). `tests/unit/test_feature_flags.py` fails once the project's version
reaches a flag's `expires_in_release`, and fails for any on/off setting that is neither a flag
here nor a permanent switch in `PERMANENT_SWITCHES`. A flag with no owner is not allowed; one
whose owner has gone is removed. `dreamforge config flags` lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dreamforge_apps.settings import Settings

#: How many releases a flag may live, counted from the release that added it.
MAX_RELEASES = 2


@dataclass(frozen=True, slots=True)
class FeatureFlag:
    name: str  # short and stable, for people
    setting: str  # the `Settings` field; the variable is DREAMFORGE_<SETTING>
    owner: str  # who decides when it goes, and does the removal task
    added_in_release: str  # "0.1"
    expires_in_release: str  # the release in which it must be gone
    removal_task: str  # what removing it means, concretely
    description: str

    def __post_init__(self) -> None:
        if not self.owner.strip():
            raise ValueError(f"feature flag {self.name!r} has no owner: remove it")
        if not self.removal_task.strip():
            raise ValueError(f"feature flag {self.name!r} has no removal task")
        added, expires = release(self.added_in_release), release(self.expires_in_release)
        if not added < expires <= (added[0], added[1] + MAX_RELEASES):
            raise ValueError(
                f"feature flag {self.name!r} must expire within {MAX_RELEASES} releases of "
                f"{self.added_in_release}, not in {self.expires_in_release}"
            )

    @property
    def variable(self) -> str:
        return f"DREAMFORGE_{self.setting.upper()}"

    def state(self, settings: Settings) -> str:
        value = getattr(settings, self.setting)
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value)

    def expired(self, version: str) -> bool:
        return release(version) >= release(self.expires_in_release)


def release(version: str) -> tuple[int, int]:
    """The release of a version: (major, minor) of `0.1.0`, `0.1` or `0.2.0rc1`."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return int(match[1]), int(match[2])


FLAGS: tuple[FeatureFlag, ...] = (
    FeatureFlag(
        name="model-download-jobs",
        setting="model_download_jobs",
        owner="models maintainers (ADR 0015)",
        added_in_release="0.1",
        expires_in_release="0.3",
        removal_task=(
            "When background downloads (FR-098) leave beta, either accept `model_download` "
            "jobs always, from admin API keys only, and delete the setting, or delete the "
            'feature as ADR 0015 "How to remove it" lists.'
        ),
        description="`POST /v1/jobs` accepts `model_download` jobs, run on the IO queue.",
    ),
    FeatureFlag(
        name="tracing",
        setting="tracing",
        owner="observability maintainers (ADR 0018)",
        added_in_release="0.1",
        expires_in_release="0.3",
        removal_task=(
            "Read the standard OpenTelemetry variables instead (`OTEL_SDK_DISABLED`, "
            "`OTEL_TRACES_EXPORTER=otlp|console|none`) whenever the `tracing` extra is "
            "installed, then delete the setting and its docs (ADR 0018)."
        ),
        description="OpenTelemetry traces of requests and jobs (`off`, `otlp`, `console`).",
    ),
)

#: On/off settings that are not feature flags, and why they stay.
PERMANENT_SWITCHES: dict[str, str] = {
    "allow_insecure_bind": (
        "a safety override an operator chooses per deployment; it guards a bind address, it "
        "does not roll out a feature"
    ),
    "runner_test_hooks": "test hooks of the runners; never a production feature",
    "webhook_allow_private": (
        "a safety override an operator chooses per network (closed networks, tests); it "
        "guards where webhooks may go, it does not roll out a feature"
    ),
}


def is_switch(setting: str) -> bool:
    """Whether a setting turns something on or off: a bool, or a choice that includes `off`."""
    field = Settings.model_fields[setting]
    if field.annotation is bool:
        return True
    choices = getattr(field.annotation, "__args__", ())
    return "off" in choices
