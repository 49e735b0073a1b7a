"""The stack's store: jobs, the model registry and live events in PostgreSQL.

Build one `PostgresDatabase` per process and `open()` it; run `migrate` from the admin command
(`dreamforge db migrate`) and `check_schema` at service start-up; hand the database to
`PostgresJobRepo`, `PostgresModelRegistry` and `PostgresEventBus` (with the repo as its
`source`); at shutdown close the bus, then the database.
"""

from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_adapters.postgres.event_bus import PostgresEventBus
from dreamforge_adapters.postgres.job_repo import PostgresJobRepo
from dreamforge_adapters.postgres.migrations import (
    MIGRATIONS,
    SchemaOutOfDate,
    check_schema,
    migrate,
    schema_version,
)
from dreamforge_adapters.postgres.model_registry import PostgresModelRegistry
from dreamforge_adapters.postgres.webhook_outbox import PostgresWebhookOutbox

__all__ = [
    "MIGRATIONS",
    "PostgresDatabase",
    "PostgresEventBus",
    "PostgresJobRepo",
    "PostgresModelRegistry",
    "PostgresWebhookOutbox",
    "SchemaOutOfDate",
    "check_schema",
    "migrate",
    "schema_version",
]
