"""`dreamforge dlq list|requeue`: the stack's dead-letter queues (`gpu` and `io`) in Redis.

Listing needs only Redis. Requeueing also reopens each failed job in Postgres, so the worker
runs it again (a message for a `failed` job would be ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from dreamforge_apps.cli.context import cli_settings
from dreamforge_apps.settings import Settings

if TYPE_CHECKING:  # imported lazily below: `dreamforge --help` stays fast
    from dreamforge_adapters.dramatiq_queue import DramatiqJobQueue
    from dreamforge_core.use_cases.requeue_dead_letters import RequeueDeadLetters


@dataclass
class _DeadLetterAccess:
    queues: dict[str, DramatiqJobQueue]
    requeue: RequeueDeadLetters | None  # only when the database was opened


@contextmanager
def _opened(settings: Settings, *, with_database: bool) -> Iterator[_DeadLetterAccess]:
    from dreamforge_adapters.dramatiq_queue import (
        GPU_QUEUE,
        IO_QUEUE,
        DramatiqJobQueue,
        close_broker,
    )
    from dreamforge_apps.stack import stack_broker

    needed = [("DREAMFORGE_REDIS_URL", settings.redis_url)]
    if with_database:
        needed.append(("DREAMFORGE_DATABASE_URL", settings.database_url))
    missing = [name for name, value in needed if not value]
    if missing:
        raise click.ClickException(
            f"the dead-letter queues live in the stack: set {', '.join(missing)} "
            "(the embedded deployment keeps them in memory, see docs/operations.md)"
        )
    broker = stack_broker(settings)
    queues = {name: DramatiqJobQueue(broker, queue_name=name) for name in (GPU_QUEUE, IO_QUEUE)}
    try:
        if not with_database:
            yield _DeadLetterAccess(queues, None)
            return
        from dreamforge_adapters.postgres import (
            PostgresDatabase,
            PostgresEventBus,
            PostgresJobRepo,
            check_schema,
        )
        from dreamforge_adapters.system import SystemClock
        from dreamforge_core.use_cases.requeue_dead_letters import RequeueDeadLetters

        with PostgresDatabase(settings.database_url or "", max_size=1) as database:
            check_schema(database)
            repo = PostgresJobRepo(database, announce=True)  # SSE followers hear the reopen
            bus = PostgresEventBus(database, source=repo, announced_by_repo=True)
            requeue = RequeueDeadLetters(repo, bus, SystemClock(), queues)
            yield _DeadLetterAccess(queues, requeue)
    finally:
        close_broker(broker)


@click.group()
def dlq() -> None:
    """The stack's dead-letter queues (gpu and io)."""


@dlq.command("list")
def dlq_list() -> None:
    """List dead-lettered jobs, oldest first: job id, queue, when, reason."""
    with _opened(cli_settings(), with_database=False) as access:
        rows = [
            (letter.at, name, letter.job_id, letter.reason)
            for name, queue in access.queues.items()
            for letter in queue.dead_letters()
        ]
    if not rows:
        click.echo("no dead-lettered jobs")
    for at, name, job_id, reason in sorted(rows):
        click.echo(f"{job_id}\t{name}\t{at.isoformat()}\t{reason}")


@dlq.command("requeue")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Requeue every dead-lettered job.")
def dlq_requeue(job_ids: tuple[str, ...], everything: bool) -> None:
    """Run dead-lettered jobs again: each failed job goes back to `queued` and onto its queue.

    It resumes at its first unfinished image with one more attempt."""
    if everything == bool(job_ids):
        raise click.UsageError("name one or more JOB_IDS, or pass --all")
    with _opened(cli_settings(), with_database=True) as access:
        assert access.requeue is not None
        done = access.requeue(None if everything else set(job_ids))
    for item in done:
        what = "queued again" if item.reopened else "not failed: message sent back unchanged"
        click.echo(f"{item.job_id}\t{item.queue}\t{what}")
    unknown = sorted(set(job_ids) - {item.job_id for item in done})
    for job_id in unknown:
        click.echo(f"{job_id}\tnot in a dead-letter queue", err=True)
    click.echo(f"requeued {len(done)} job(s)")
    if unknown:
        raise SystemExit(1)
