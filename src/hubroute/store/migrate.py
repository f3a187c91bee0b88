"""The store's schema version, brought to the latest at start and by `hubroute db upgrade` (Alembic).

`ensure_latest(engine)` reads the recorded version with one query and imports Alembic only when there
is something to do (a new database, or one from an older hubroute), so a router with an up-to-date
store starts without it. On PostgreSQL the upgrade holds an advisory lock: routers started together
on one database migrate it once. A database from a newer hubroute than this one is refused rather
than used with a schema this code does not know.

For developers: `python -m hubroute.store.migrate revision -m "what changed"` writes a new migration
from the difference between `store/schema.py` and the latest migration (review it before committing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubroute.errors import ConfigError
from hubroute.store.partitions import is_partition_name, partition_usage
from hubroute.store.schema import VERSION_TABLE, metadata

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

#: the latest migration of `migrations/versions/` (a test checks it against Alembic's own head)
HEAD = "0010_ledger_partitions"
SCRIPTS = Path(__file__).parent / "migrations"
#: pg_advisory_xact_lock's key for migrations: any constant of our own
_LOCK = 0x6875627274  # "hubrt"


async def current(engine: AsyncEngine) -> str | None:
    """The schema version the database holds (None: no hubroute schema yet)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def _current(connection: sa.Connection) -> str | None:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608


async def ensure_latest(engine: AsyncEngine) -> str | None:
    """Bring the schema to `HEAD`; the version it was at before (None: a new database)."""
    before = await current(engine)
    if before == HEAD:
        return before
    async with engine.begin() as conn:
        await conn.run_sync(_create if before is None else _upgrade)
    return before


def _create(connection: sa.Connection) -> None:
    """A new database: the schema made at once, as the migrations would make it (a test compares
    the two) and recorded at `HEAD`, as Alembic recommends; Alembic itself is not loaded. A database
    that holds tables but no version is no new one: it goes through the migrations."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    if _current(connection) is not None or sa.inspect(connection).get_table_names():
        _upgrade(connection)
        return
    metadata.create_all(connection)
    partition_usage(connection)  # (PostgreSQL's ledger: partitioned, as migration 0010 makes it)
    version = sa.Table(VERSION_TABLE, sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True))
    version.create(connection)
    connection.execute(version.insert().values(version_num=HEAD))


def include_name(name: str | None, kind: str, _: Any) -> bool:
    """What Alembic compares: not the ledger's partitions (PostgreSQL's), which routers make and drop."""
    return not (kind == "table" and name is not None and is_partition_name(name))


def _upgrade(connection: sa.Connection) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _config(connection)
    if connection.dialect.name == "postgresql":  # one router migrates; the others wait, then find it done
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    version = _current(connection)
    if version is not None and not _known(ScriptDirectory.from_config(config), version):
        raise ConfigError("store.url", f"the database's schema ({version}) is newer than this hubroute knows "
                          f"({HEAD}): upgrade hubroute, or point store.url at another database")
    command.upgrade(config, "head")


def _known(scripts: Any, version: str) -> bool:
    from alembic.util import CommandError

    try:
        return scripts.get_revision(version) is not None
    except CommandError:  # (Alembic's word for a revision it has no script of)
        return False


def _config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("file_template", "%%(rev)s")
    config.attributes["connection"] = connection
    return config


def _revision(message: str) -> None:
    """Write a migration for what `schema.py` has that the latest migration does not."""
    import asyncio

    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine("sqlite+aiosqlite://")
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)

            def write(connection: sa.Connection) -> Any:
                config = _config(connection)
                return command.revision(config, message=message, autogenerate=True)

            await conn.run_sync(write)
        await engine.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "revision" and sys.argv[2] == "-m":
        _revision(sys.argv[3])
    else:
        sys.exit("usage: python -m hubroute.store.migrate revision -m MESSAGE")
