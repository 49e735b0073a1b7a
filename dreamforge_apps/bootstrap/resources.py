"""The lifetimes both deployments share, as generators for `providers.Resource`: what comes
before `yield` opens the part, what comes after closes it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence

from dreamforge_apps.runners import build_runner
from dreamforge_apps.settings import Settings
from dreamforge_apps.sweeper import Sweeper
from dreamforge_apps.tracing import Tracing, TracingUnavailable, open_tracing
from dreamforge_apps.webhook_deliverer import Doorbell, WebhookDeliverer
from dreamforge_core.ports.runner import Runner
from dreamforge_core.ports.threads import Threads
from dreamforge_core.ports.warm_models import WarmRoster
from dreamforge_core.use_cases.deliver_webhooks import DeliverWebhooks
from dreamforge_core.use_cases.model_routing import ModelRouting
from dreamforge_core.use_cases.recover_jobs import RecoverJobs


class ConfigurationError(Exception):
    """Raised when the settings cannot produce a working deployment."""


def tracing(settings: Settings, service: str) -> Iterator[Tracing]:
    """`service`: `serve`, `api` or `worker`, the process's name in traces."""
    try:
        opened = open_tracing(settings, service)
    except TracingUnavailable as e:
        raise ConfigurationError(str(e)) from e
    yield opened
    opened.close()  # flushes the spans not yet exported


def runner(settings: Settings) -> Iterator[Runner]:
    """The runner of a process that runs jobs; closing it stops its child process."""
    opened = build_runner(settings)
    yield opened
    opened.close()


def sweeper(sweeps: Sequence[RecoverJobs], settings: Settings) -> Iterator[Sweeper]:
    running = Sweeper(sweeps, settings.sweep_interval_s)
    running.start()
    yield running
    running.stop()


def webhook_deliverer(
    deliver: DeliverWebhooks | None, doorbell: Doorbell
) -> Iterator[WebhookDeliverer | None]:
    """The thread pool that posts webhook messages, where webhooks are enabled."""
    if deliver is None:
        yield None
        return
    deliverer = WebhookDeliverer(deliver, doorbell)
    deliverer.start()
    yield deliverer
    deliverer.stop()


def model_routing(
    settings: Settings, roster: WarmRoster, threads: Threads
) -> Iterator[ModelRouting | None]:
    """This worker's model routing (ADR 0034), advertised from a heartbeat while the worker
    runs and withdrawn when it stops; None where `DREAMFORGE_ROUTING_MAX_WAIT_S` is 0."""
    if settings.routing_max_wait_s <= 0:
        yield None
        return
    routing = ModelRouting(
        roster,
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        max_wait_s=settings.routing_max_wait_s,
        capacity=settings.warm_models,
    )
    routing.start(threads)
    yield routing
    routing.close()
