"""Short database work on a request's path, in one trip: `await trips.run(fn)` calls `fn(connection)`
in a transaction (committed when it returns) and gives back what it returned.

    trips = Trips.of(engine)
    await trips.run(lambda conn: conn.execute(table.insert(), row))

aiosqlite gives each connection a thread of its own and hands it every DBAPI call, one at a time:
an INSERT and its commit are five trips between the event loop and that thread (the cursor, the
statement, the cursor's close, the commit, the pool's rollback when the connection goes back), each
a wake-up of another thread. On a SQLite file, `fn` instead runs whole in a worker thread, on a
blocking engine of the same file (the same schema, types and pragmas): one trip. Elsewhere
(PostgreSQL, whose driver is asynchronous itself, or SQLite in memory, which only one connection
sees) it runs on the async engine, through `AsyncConnection.run_sync`.

For work on a request's path only (a stored response, read or written): the ledger's batches and
the rest keep the async engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


class Trips:
    def __init__(self, engine: AsyncEngine, blocking: sa.Engine | None = None) -> None:
        self.engine = engine
        #: a blocking engine of the same SQLite file (None: the async engine does the work)
        self.blocking = blocking

    @classmethod
    def of(cls, engine: AsyncEngine) -> Trips:
        """The trips of `engine`: through a blocking engine of its own when it is a SQLite file's."""
        from hubroute.store import create_blocking_engine

        return cls(engine, create_blocking_engine(engine))

    async def run(self, fn: Callable[[sa.Connection], T]) -> T:
        if self.blocking is not None:
            return await asyncio.to_thread(self._in_transaction, fn)
        async with self.engine.begin() as conn:
            return await conn.run_sync(fn)

    def _in_transaction(self, fn: Callable[[sa.Connection], T]) -> T:
        assert self.blocking is not None
        with self.blocking.begin() as conn:
            return fn(conn)

    def close(self) -> None:
        if self.blocking is not None:
            self.blocking.dispose()
