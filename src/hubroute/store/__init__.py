"""The router's database: accounts and keys (and, as they land, the usage ledger and credits).

    store = await Store.open("sqlite:///path/hubroute.db")   # or postgresql://user@host/db
    await store.accounts.create_user("ada")
    await store.close()

One schema (`schema.py`) over SQLAlchemy Core, migrated by Alembic (`migrate.py`) when the store
opens. SQLite is embedded (the default: `hubroute serve` needs nothing else), in WAL mode so that
reads never wait for the ledger's writes; PostgreSQL is for deployments of several routers. The
URL's scheme picks the driver: `sqlite://` (aiosqlite), `postgresql://` (asyncpg).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from hubroute.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncEngine

    from hubroute.store.accounts import Accounts
    from hubroute.store.partitions import Unit
    from hubroute.store.retention import LedgerRetention

MEMORY = "sqlite://"


def home(environ: Mapping[str, str] = os.environ) -> Path:
    """The router's data directory: `$HUBROUTE_HOME`, else `$XDG_DATA_HOME/hubroute`, else
    `~/.local/share/hubroute`."""
    found = environ.get("HUBROUTE_HOME")
    if found:
        return Path(found)
    return Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "hubroute"


def default_url(environ: Mapping[str, str] = os.environ) -> str:
    """`sqlite:///<data dir>/hubroute.db`."""
    return f"sqlite:///{home(environ) / 'hubroute.db'}"


def driver_url(url: str) -> str:
    """The SQLAlchemy URL of a store URL: its async driver named (`sqlite+aiosqlite`, `postgresql+asyncpg`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError("store.url", f"{url!r} is not a URL: sqlite:///path/to/file.db or postgresql://user@host/db")
    base = scheme.split("+", 1)[0].lower()
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise ConfigError("store.url", f"unknown database {scheme!r}: sqlite:// or postgresql://")


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://..."


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel one of the store's background tasks (the ledger's writer, lease renewals) and wait until
    it has ended; None: nothing to stop."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reason(exc: BaseException) -> str:
    """Why the database could not be used, as a person reads it (and as a log may keep it: the
    driver's own message, never SQLAlchemy's, which quotes the statement and its parameters: a
    stored response's text, a ledger row)."""
    if isinstance(exc, OSError):
        from hubroute.h1 import os_reason

        return os_reason(exc).lower()
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    driver = getattr(exc, "orig", None)  # (sqlalchemy.exc.DBAPIError: what the driver raised)
    if isinstance(driver, BaseException):
        return reason(driver)
    if _quotes_statement(exc):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _quotes_statement(exc: BaseException) -> bool:
    """A SQLAlchemy error that quotes its statement, without the driver's error under it."""
    from sqlalchemy.exc import StatementError

    return isinstance(exc, StatementError)


def create_engine(url: str) -> AsyncEngine:
    """An engine for a store URL (the directory of a SQLite file made if missing)."""
    from sqlalchemy import event
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import StaticPool

    target = make_url(driver_url(url))
    if target.get_backend_name() == "sqlite":
        _bind_quickly()
        path = target.database
        memory = _in_memory(path)
        if path and not memory:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # one connection for a memory database (each would otherwise have its own); for a file, a
        # few (aiosqlite gives each a thread of its own)
        kw: dict[str, Any] = {"poolclass": StaticPool} if memory else _SQLITE_POOL
        engine = create_async_engine(target, connect_args={"timeout": _SQLITE_TIMEOUT}, **kw, **_EVERY_ENGINE)

        event.listen(engine.sync_engine, "connect", lambda dbapi, _: sqlite_pragmas(dbapi, memory))
        return engine
    return create_async_engine(target, pool_size=10, max_overflow=10, pool_pre_ping=True, **_EVERY_ENGINE)


def create_blocking_engine(engine: AsyncEngine, *, waits: bool = True) -> sa.Engine | None:
    """A blocking engine of the same SQLite file as `engine`, with the same pool and pragmas (for
    work run whole in a worker thread: `store.trips`); None for another database, or SQLite in
    memory (which another connection would not see). `waits=False`: one connection, for the event
    loop, that neither waits for another writer nor checkpoints the WAL."""
    import sqlalchemy as sa

    url = engine.url
    if url.get_backend_name() != "sqlite" or _in_memory(url.database):
        return None
    url = url.set(drivername="sqlite+pysqlite")
    if not waits:
        loop = sa.create_engine(url, poolclass=sa.pool.StaticPool, connect_args={"timeout": 0}, **_EVERY_ENGINE)
        sa.event.listen(loop, "connect", lambda dbapi, _: sqlite_pragmas(dbapi, waits=False))
        return loop
    blocking = sa.create_engine(url, **_SQLITE_POOL, **_EVERY_ENGINE,
                                connect_args={"timeout": _SQLITE_TIMEOUT, "check_same_thread": False})
    sa.event.listen(blocking, "connect", lambda dbapi, _: sqlite_pragmas(dbapi))
    return blocking


def _in_memory(path: str | None) -> bool:
    """Whether a SQLite URL's database (its path) is one in memory."""
    return not path or path == ":memory:"


def _json_text(value: Any) -> str:
    """A JSON column's value as the database gets it: orjson's text (a stored response's body is
    written several times faster than by the json module; keys that are not strings become strings,
    as json makes them)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


#: what every engine is made with: how it writes and reads JSON columns, and errors that never quote
#: a statement's parameters (a stored response's text, a key's digest), whoever logs them
_EVERY_ENGINE: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads,
                                 "hide_parameters": True}

#: a SQLite file's connections: a few (aiosqlite gives each a thread of its own), each waiting up to
#: this many seconds for another's write
_SQLITE_POOL: dict[str, Any] = {"pool_size": 2, "max_overflow": 4}
_SQLITE_TIMEOUT = 30


#: None's adapter: a function of C giving None for any argument (cheaper to call than one of Python)
_null: Any = {}.get


def _bind_quickly() -> None:
    """Make the sqlite3 module bind None and booleans without looking for their adapters. For a
    parameter that is not exactly an int, float or str, it searches its adapters, then asks the
    protocol for `__adapt__` (an AttributeError raised and cleared each time) and the value for
    `__conform__`: several times the cost of binding it, for each None and bool of each row (a
    usage-ledger row holds about ten). With an adapter registered for each, the search ends at once;
    the values bound are those sqlite3 binds anyway (NULL, 1 and 0). These adapters are the sqlite3
    module's, for the whole process (registered again, they stay the same)."""
    import sqlite3

    sqlite3.register_adapter(type(None), _null)
    sqlite3.register_adapter(bool, int)


def sqlite_pragmas(dbapi_connection: Any, memory: bool = False, waits: bool = True) -> None:
    """What each connection to a SQLite store sets, as it opens (`waits=False`: the event loop's,
    which fails at once when another connection is writing and leaves checkpoints to the others)."""
    cursor = dbapi_connection.cursor()
    if not memory:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
    cursor.execute("PRAGMA cache_size=-1024")  # 1 MiB of pages a connection: the ledger only appends
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_TIMEOUT * 1000 if waits else 0}")
    if not waits:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class Store:
    """An open store: its engine and the parts built on it (accounts and keys, the usage ledger and,
    with `ledger_retention_days` or on PostgreSQL, its upkeep: started by the caller, `retention.start()`)."""

    def __init__(self, engine: AsyncEngine, url: str, *, spill_dir: Path | None = None,
                 flush_interval: float = 1.0, ledger_retention_days: float | None = None,
                 ledger_partition: Unit = "month", migrated_from: str | None = None) -> None:
        from hubroute.store.accounts import Accounts
        from hubroute.store.ledger import Ledger
        from hubroute.store.retention import LedgerRetention
        from hubroute.store.trips import Trips

        self.engine = engine
        self.url = url
        #: the schema version the database had when it was opened (None: a new database)
        self.migrated_from = migrated_from
        self.accounts: Accounts = Accounts(engine)
        #: short work on a request's path, in one trip to the database (`store.trips`)
        self.trips = Trips.of(engine)
        self.ledger = Ledger(engine, spill_dir=spill_dir or home(), flush_interval=flush_interval)
        #: the ledger's retention, and on PostgreSQL its partitions (None: SQLite keeping everything)
        self.retention: LedgerRetention | None = (
            LedgerRetention(engine, days=ledger_retention_days, partition=ledger_partition)
            if ledger_retention_days is not None or engine.dialect.name == "postgresql" else None)

    @classmethod
    async def open(cls, url: str, **kw: Any) -> Store:
        """Connect and bring the schema to the latest version (`kw`: the ledger's settings and retention)."""
        from hubroute.store.migrate import ensure_latest

        engine = create_engine(url)
        try:
            before = await ensure_latest(engine)
        except ConfigError:
            await engine.dispose()
            raise
        except Exception as exc:
            await engine.dispose()
            raise StoreUnavailable(f"cannot open the store {redacted(url)}: {reason(exc)}") from exc
        store = cls(engine, url, migrated_from=before, **kw)
        if store.retention is not None:  # the ledger's first rows find their partition (PostgreSQL's)
            with contextlib.suppress(Exception):  # (else they wait in the default one: the rounds retry)
                await store.retention.make_partitions()
        return store

    async def close(self) -> None:
        """Stop the retention, write (or spill) the ledger's rows, then close the connections."""
        if self.retention is not None:
            await self.retention.close()
        await self.ledger.close()
        self.trips.close()
        await self.engine.dispose()


async def upgrade(url: str, *, check_seals: bool = False, secret: str | None = None,
                  ledger_partition: Unit = "month") -> tuple[str | None, str]:
    """Open the store at `url`, bring its schema to the latest (on PostgreSQL, the ledger's current
    partitions made, a `ledger_partition` each), with `check_seals` check that the provider keys it
    holds open with `secret` (ConfigError: `accounts.encryption_key`), close it:
    (version before, version now). What `hubroute db upgrade` does, and `hubroute serve` before it
    listens (a store that cannot be used stops the start with one line, rather than failing inside
    the server)."""
    from hubroute.store.migrate import HEAD

    store = await Store.open(url, ledger_partition=ledger_partition)
    before = store.migrated_from
    try:
        if check_seals:
            from hubroute.store.provider_keys import ProviderKeys
            from hubroute.store.sealing import Sealer

            await ProviderKeys(store.accounts, Sealer(secret) if secret else None).ensure_openable()
    finally:
        await store.close()
    return before, HEAD


class StoreUnavailable(Exception):
    """The database cannot be reached or used; the message is one line to show."""
