"""What the SQLite and Postgres stores share: rows mapped by column name, the model registry
and the migration runner.

Each database keeps its own connection handling and its hot-path statements (create, save,
event reads, idempotency); this package holds only what is the same on both. It imports no
driver: a database describes itself with a `Dialect` and reads rows through a `SqlStore`.
"""
