"""Short database work on a request's path, in one trip: `await trips.run(fn)` calls `fn(connection)`
in a transaction (committed when it returns) and gives back what it returned.

    trips = Trips.of(engine)
    await trips.run(lambda conn: conn.execute(table.insert(), row))

aiosqlite gives each connection a thread of its own and hands it every DBAPI call, one at a time:
an INSERT and its commit are five trips between the event loop and that thread (the cursor, the
statement, the cursor's close, the commit, the pool's rollback when the connection goes back), each
a wake-up of another thread. On a SQLite file, `fn` instead runs whole on a blocking engine of the
same file (the same schema, types and pragmas):

- on the event loop itself, on a connection that never waits: its `busy_timeout` is 0, so when
  another connection is writing (the ledger's batch) its write fails at once, is rolled back and is
  tried again after a short pause (`PAUSES`: the loop serves other requests meanwhile); and it never
  checkpoints the WAL (a checkpoint syncs the database file to disk, which must not stall the
  loop): a worker thread does, after about `CHECKPOINT_BYTES` added, so the WAL stays bounded. A short
  write in WAL mode with `synchronous=NORMAL` is an append to the WAL in the page cache: tens of
  microseconds, where a worker thread's trip costs a wake-up of each thread;
- in a worker thread, waiting as long as SQLite's `busy_timeout` allows, when the other writer
  kept the lock through all the pauses.

Elsewhere (PostgreSQL, whose driver is asynchronous itself, or SQLite in memory, which only one
connection sees) `fn` runs on the async engine, through `AsyncConnection.run_sync`.

`await trips.insert(table, row)` adds one row the same way, but on the loop it goes straight to the
driver: the statement and each column's conversion are prepared once per table, where SQLAlchemy's
execution (a transaction object, the compiled cache's look-up, parameter processing, a result, the
pool's reset) costs more than SQLite's own insert and commit of a stored response.

For work on a request's path only (a stored response, read or written): the ledger's batches and
the rest keep the async engine.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

#: a worker thread checkpoints the WAL (RESTART: writers wait for it, so that the next one starts the
#: WAL over) once the work on the loop has added about this many bytes to it since the last
#: checkpoint (half SQLite's own automatic checkpoint, 1,000 pages). Each commit appends a copy of
#: every page it changed: an insert, its table's last page and one page of each index (`PAGE` each),
#: and its values' text; any other work counts `RUN_BYTES`. Checkpointing every few writes copies
#: each hot page once for those few: its cost per write is then several times the write's own
CHECKPOINT_BYTES = 2 << 20
PAGE = 4096
RUN_BYTES = 16 << 10
#: the pauses between tries on the loop while another connection writes (about 0.1 s in all), before
#: the work goes to a worker thread that waits as long as it takes. SQLite's own wait sleeps 1, 2, 5,
#: 10... up to 100 ms between its tries, however soon the writer is done: a waiting write would
#: often sleep long after the lock was free.
PAUSES = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.016, 0.016, 0.032)

log = logging.getLogger("hubroute.store")


def _busy(exc: sa.exc.OperationalError | sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection is writing (BUSY, BUSY_SNAPSHOT...)."""
    return getattr(getattr(exc, "orig", exc), "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class _Insert:
    """A table's INSERT for the driver itself: its SQL, and its columns in order with their conversions
    (those SQLAlchemy would apply: JSON through the engine's serializer, times as SQLite text)."""

    def __init__(self, table: sa.Table, dialect: sa.Dialect) -> None:
        compiled = table.insert().compile(dialect=dialect)
        assert compiled.positiontup is not None
        self.sql = compiled.string
        self.columns = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                        for name in compiled.positiontup]
        #: the pages an insert changes besides its values': the table's, and one for each index (the
        #: primary key's and unique constraints' included)
        keys = sum(isinstance(c, sa.PrimaryKeyConstraint | sa.UniqueConstraint) for c in table.constraints)
        self.pages = 1 + len(table.indexes) + keys

    def params(self, row: dict[str, Any]) -> list[Any]:
        return [row[name] if convert is None else convert(row[name]) for name, convert in self.columns]


class Trips:
    def __init__(self, engine: AsyncEngine, blocking: sa.Engine | None = None,
                 on_loop: sa.Engine | None = None) -> None:
        self.engine = engine
        #: a blocking engine of the same SQLite file (None: the async engine does the work)
        self.blocking = blocking
        #: its connection on the event loop, which never waits (None: always the worker thread)
        self.on_loop = on_loop
        self._checkpoint: asyncio.Future[None] | None = None
        #: about how many bytes the loop's work has written since the last checkpoint
        self._written = 0
        #: the work done on the loop, the times it found another connection writing, and the work
        #: handed to a worker thread after `PAUSES`
        self.ran_on_loop = self.busy = self.handed_over = 0
        self._inserts: dict[sa.Table, _Insert] = {}
        #: the loop's SQLite connection itself, for `insert`
        self._driver: Any = None

    @classmethod
    def of(cls, engine: AsyncEngine) -> Trips:
        """The trips of `engine`: through a blocking engine of its own when it is a SQLite file's."""
        from hubroute.store import create_blocking_engine

        blocking = create_blocking_engine(engine)
        return cls(engine, blocking, None if blocking is None else create_blocking_engine(engine, waits=False))

    async def run(self, fn: Callable[[sa.Connection], T]) -> T:
        if self.blocking is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn)
        if self.on_loop is not None:
            on_loop = self.on_loop

            def attempt() -> T:
                with on_loop.begin() as conn:
                    return fn(conn)

            ran, done = await self._on_loop(attempt, RUN_BYTES)
            if ran:
                return cast(T, done)
        return await asyncio.to_thread(self._in_transaction, fn)

    async def insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Insert `row` (a value for each of `table`'s columns) in a transaction of its own."""
        if len(row) != len(table.c):
            raise ValueError(f"a row for {table.name} gives every column, not only {', '.join(sorted(row))}")
        if self.on_loop is None:
            await self.run(lambda conn: conn.execute(table.insert(), row))
            return
        prepared = self._inserts.get(table)
        if prepared is None:
            prepared = self._inserts[table] = _Insert(table, self.on_loop.dialect)
        params = prepared.params(row)
        if self._driver is None:
            self._driver = self.on_loop.raw_connection().driver_connection
        driver = self._driver

        def attempt() -> None:
            try:
                driver.execute(prepared.sql, params)
                driver.commit()
            except sqlite3.Error as exc:
                driver.rollback()
                if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                    raise
                raise sa.exc.DBAPIError.instance(prepared.sql, params, exc, sqlite3.Error,
                                                 hide_parameters=True) from exc

        size = PAGE * prepared.pages + sum(len(p) for p in params if isinstance(p, str | bytes))
        ran, _ = await self._on_loop(attempt, size)
        if not ran:
            await asyncio.to_thread(self._in_transaction, lambda conn: conn.execute(table.insert(), row))

    async def _on_loop(self, attempt: Callable[[], T], size: int) -> tuple[bool, T | None]:
        """`attempt()` on the loop, after `PAUSES` while another connection writes: (True, what it
        returned), or (False, None) when the other writer kept the lock through them all. `size`:
        about how many bytes it writes."""
        if self._checkpoint is not None and self._written >= CHECKPOINT_BYTES:
            # (a checkpoint asked for is not done, and the loop has written as much again since: its
            # thread may be waiting for the GIL the loop keeps. The work waits for it in a thread, so
            # that the WAL stays bounded however fast the loop writes)
            self.handed_over += 1
            return False, None
        for pause in PAUSES:
            try:
                done = attempt()
            except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
                if not _busy(exc):
                    raise
                self.busy += 1  # (rolled back: tried again)
                await asyncio.sleep(pause)
                continue
            self.ran_on_loop += 1
            self._written += size
            if self._written >= CHECKPOINT_BYTES and self._checkpoint is None:
                self._written = 0
                self._checkpoint = asyncio.get_running_loop().run_in_executor(None, self._checkpoint_wal)
                self._checkpoint.add_done_callback(self._checkpointed)
            return True, done
        self.handed_over += 1
        return False, None

    def _checkpoint_wal(self) -> None:
        assert self.blocking is not None
        with self.blocking.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and done.exception() is not None:
            log.warning("store: checkpointing the SQLite WAL failed: %s", done.exception())

    def _in_transaction(self, fn: Callable[[sa.Connection], T]) -> T:
        assert self.blocking is not None
        with self.blocking.begin() as conn:
            return fn(conn)

    def close(self) -> None:
        self._driver = None
        for engine in (self.blocking, self.on_loop):
            if engine is not None:
                engine.dispose()
