"""Alembic's environment for the store's migrations: run only through `hubroute.store.migrate`, which
hands over an open connection (the router's own engine, SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic import context

from hubroute.store.migrate import include_name
from hubroute.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run through `hubroute db upgrade` (hubroute.store.migrate)")
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite alters a table by copying it: Alembic's batch mode does that
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
