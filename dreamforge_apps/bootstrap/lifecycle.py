"""Starting and stopping a container's resources, in the order their dependencies declare.

dependency-injector shuts a resource down only after the resources that name it *directly*;
ours reach each other through factories (the worker threads hold a use case that holds the
repository that holds the database), so `stop` orders by every resource a resource reaches,
directly or not: what uses a resource always stops before it.
"""

from __future__ import annotations

import logging

from dependency_injector import containers, providers

log = logging.getLogger(__name__)


def start(container: containers.Container) -> None:
    """Opens every resource; when one fails, closes those already open and raises."""
    try:
        container.init_resources()
    except BaseException:
        stop(container)
        raise


def stop(container: containers.Container) -> None:
    """Closes every open resource, users before what they use. A failing close is logged and
    the others still close: releasing the rest matters more than that one."""
    resources = list(container.traverse(types=[providers.Resource]))
    reaches = {
        resource: set(resource.traverse(types=[providers.Resource])) for resource in resources
    }
    pending = [resource for resource in resources if resource.initialized]
    while pending:
        # Those no other pending resource reaches: nothing open uses them any more.
        free = [r for r in pending if not any(r in reaches[o] for o in pending if o is not r)]
        if not free:  # a cycle cannot be declared; a guard rather than a loop forever
            free = pending[:1]
        for resource in free:
            try:
                resource.shutdown()
            except Exception:
                log.exception("error while closing %s", resource)
            pending.remove(resource)
