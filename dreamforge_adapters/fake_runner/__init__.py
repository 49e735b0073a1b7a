"""The deterministic fake Runner: unit tests and GPU-less deployments (`DREAMFORGE_RUNNER=fake`)."""

from dreamforge_adapters.fake_runner.runner import FakeCall, FakeRunner, fake_pixels
from dreamforge_adapters.fake_runner.warm import WarmPipelines

__all__ = ["FakeCall", "FakeRunner", "WarmPipelines", "fake_pixels"]
