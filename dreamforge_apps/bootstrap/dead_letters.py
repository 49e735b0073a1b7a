"""The stack's dead-letter queues, for `dreamforge dlq`: listing needs only Redis, a requeue
also reopens each failed job in Postgres."""

from __future__ import annotations

from dependency_injector import containers, providers
from dramatiq.brokers.redis import RedisBroker

from dreamforge_adapters.dramatiq_queue import GPU_QUEUE, IO_QUEUE, DramatiqJobQueue
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.bootstrap.postgres_stores import PostgresStores
from dreamforge_apps.bootstrap.stack import stack_broker
from dreamforge_apps.settings import Settings
from dreamforge_core.use_cases.requeue_dead_letters import RequeueDeadLetters


def both_queues(broker: RedisBroker) -> dict[str, DramatiqJobQueue]:
    return {name: DramatiqJobQueue(broker, queue_name=name) for name in (GPU_QUEUE, IO_QUEUE)}


class DeadLetters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    broker = providers.Resource(stack_broker, settings)
    queues = providers.Singleton(both_queues, broker)
    # The repository announces the reopen: SSE followers hear it.
    stores = providers.Container(PostgresStores, dsn=settings.provided.database_url)
    requeue = providers.Singleton(
        RequeueDeadLetters, stores.repo, stores.bus, providers.Singleton(SystemClock), queues
    )
