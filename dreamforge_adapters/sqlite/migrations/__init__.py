"""The SQLite schema: the numbered `.sql` migrations beside this file, applied in order by the
shared runner and recorded in `schema_migrations`.

Timestamps are the fixed-width ISO strings of `dreamforge_core.domain.clock.iso`, so comparing
them as text compares them as times. JSON columns hold text, readable with SQLite's json
functions.
"""

from dreamforge_adapters.sql.migrations import Migration, load_migrations, migrations_table

CREATE_MIGRATIONS_TABLE = migrations_table(__name__)
MIGRATIONS: tuple[Migration, ...] = load_migrations(__name__)
