"""Short database work on a request's path, in one trip: `await trips.run(fn)` calls `fn(connection)`
in a transaction (committed when it returns) and gives back what it returned.

    trips = Trips.of(engine)
    await trips.run(lambda conn: conn.execute(table.insert(), row))

aiosqlite gives each connection a thread of its own and hands it every DBAPI call, one at a time:
an INSERT and its commit are five trips between the event loop and that thread (the cursor, the
statement, the cursor's close, the commit, the pool's rollback when the connection goes back), each
a wake-up of another thread. On a SQLite file, `fn` instead runs whole on a blocking engine of the
same file (the same schema, types and pragmas):

- first on the event loop itself, on a connection that never waits: its `busy_timeout` is 0, so
  when another connection is writing (the ledger's batch) its write fails at once and is rolled
  back; and it never checkpoints the WAL (a checkpoint syncs the database file to disk, which must
  not stall the loop). A short write in WAL mode with `synchronous=NORMAL` is an append to the WAL in
  the page cache: tens of microseconds, where a worker thread's trip costs a wake-up of each thread;
- else (another connection was writing), and one write in `CHECKPOINT_EVERY` whatever happens, in
  a worker thread, on a connection that waits for the other writer and checkpoints the WAL as it
  commits: one trip, and the WAL stays bounded even with no other writer.

Elsewhere (PostgreSQL, whose driver is asynchronous itself, or SQLite in memory, which only one
connection sees) `fn` runs on the async engine, through `AsyncConnection.run_sync`.

For work on a request's path only (a stored response, read or written): the ledger's batches and
the rest keep the async engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

#: one write in this many goes through the worker thread, whose connection checkpoints the WAL
CHECKPOINT_EVERY = 64


class Trips:
    def __init__(self, engine: AsyncEngine, blocking: sa.Engine | None = None,
                 on_loop: sa.Engine | None = None) -> None:
        self.engine = engine
        #: a blocking engine of the same SQLite file (None: the async engine does the work)
        self.blocking = blocking
        #: its connection on the event loop, which never waits (None: always the worker thread)
        self.on_loop = on_loop
        self._runs = 0
        #: the work done on the loop, and the work it handed to the thread because another wrote
        self.ran_on_loop = self.handed_over = 0

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
        self._runs += 1
        if self.on_loop is not None and self._runs % CHECKPOINT_EVERY:
            try:
                with self.on_loop.begin() as conn:
                    done = fn(conn)
                self.ran_on_loop += 1
                return done
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:  # (BUSY_SNAPSHOT...)
                    raise
                self.handed_over += 1  # (rolled back: done again below, waiting for the other writer)
        return await asyncio.to_thread(self._in_transaction, fn)

    def _in_transaction(self, fn: Callable[[sa.Connection], T]) -> T:
        assert self.blocking is not None
        with self.blocking.begin() as conn:
            return fn(conn)

    def close(self) -> None:
        for engine in (self.blocking, self.on_loop):
            if engine is not None:
                engine.dispose()
