"""The embedded store: jobs and the model registry in one SQLite file (`dreamforge serve`).

Build one `SqliteDatabase` per file and process, hand it to `SqliteJobRepo` and
`SqliteModelRegistry`, and close it when the process stops.
"""

from dreamforge_adapters.sqlite.database import SqliteDatabase
from dreamforge_adapters.sqlite.job_repo import SqliteJobRepo
from dreamforge_adapters.sqlite.model_registry import SqliteModelRegistry
from dreamforge_adapters.sqlite.webhook_outbox import SqliteWebhookOutbox

__all__ = ["SqliteDatabase", "SqliteJobRepo", "SqliteModelRegistry", "SqliteWebhookOutbox"]
