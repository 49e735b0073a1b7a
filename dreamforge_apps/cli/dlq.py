"""`dreamforge dlq list|requeue`: the stack's dead-letter queues (`gpu` and `io`) in Redis.

Listing needs only Redis. Requeueing also reopens each failed job in Postgres, so the worker
runs it again (a message for a `failed` job would be ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from dreamforge_apps.cli.context import cli_settings
from dreamforge_apps.settings import Settings

if TYPE_CHECKING:  # imported lazily below: `dreamforge --help` stays fast
    from dreamforge_apps.bootstrap.dead_letters import DeadLetters


@contextmanager
def _opened(settings: Settings, *, with_database: bool) -> Iterator[DeadLetters]:
    """The dead-letter queues; what is used of them (Redis, and Postgres for a requeue)
    opens on first use and closes at the end."""
    from dreamforge_apps.bootstrap.dead_letters import DeadLetters
    from dreamforge_apps.bootstrap.lifecycle import stop

    needed = [("DREAMFORGE_REDIS_URL", settings.redis_url)]
    if with_database:
        needed.append(("DREAMFORGE_DATABASE_URL", settings.database_url))
    missing = [name for name, value in needed if not value]
    if missing:
        raise click.ClickException(
            f"the dead-letter queues live in the stack: set {', '.join(missing)} "
            "(the embedded deployment keeps them in memory, see docs/operations.md)"
        )
    access = DeadLetters(settings=settings)
    try:
        yield access
    finally:
        stop(access)


@click.group()
def dlq() -> None:
    """The stack's dead-letter queues (gpu and io)."""


@dlq.command("list")
def dlq_list() -> None:
    """List dead-lettered jobs, oldest first: job id, queue, when, reason."""
    with _opened(cli_settings(), with_database=False) as access:
        rows = [
            (letter.at, name, letter.job_id, letter.reason)
            for name, queue in access.queues().items()
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
        done = access.requeue()(None if everything else set(job_ids))
    for item in done:
        what = "queued again" if item.reopened else "not failed: message sent back unchanged"
        click.echo(f"{item.job_id}\t{item.queue}\t{what}")
    unknown = sorted(set(job_ids) - {item.job_id for item in done})
    for job_id in unknown:
        click.echo(f"{job_id}\tnot in a dead-letter queue", err=True)
    click.echo(f"requeued {len(done)} job(s)")
    if unknown:
        raise SystemExit(1)
