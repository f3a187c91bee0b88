"""The usage ledger's retention (`store.ledger_retention_days`): what is older is deleted, hourly.

    pruner = LedgerRetention(engine, days=90)   # then pruner.start() on the event loop
    await pruner.close()

Each round (at start, then every `interval` seconds) deletes the `usage` rows whose `created_at` is
older than the retention, then the `ledger_batches` marks whose `written_at` is. It deletes `batch`
rows a statement, each statement its own transaction, oldest first through the time's index, and
between two statements waits as long as the last one took: no long lock, no large transaction, at
most half of the database's time spent deleting (SQLite has one writer: the ledger's gets its turns).

Every router process prunes; several at once is harmless: on PostgreSQL a statement takes its rows
with `FOR UPDATE SKIP LOCKED` (rows another router is deleting are left to it: no waiting, no
deadlock), and SQLite writes one statement at a time anyway. A database that cannot be reached costs
one log line (and one when it answers again); the next round tries again.

What the retention takes away: reports, and budgets, which read what a period spent from the ledger
(`Accounts.spent`). The config refuses a retention shorter than a calendar month and a day, so that
`day`, `week` and `month` budgets see their whole period; a `total` budget counts only what is
retained (said once at start when there are such budgets). Credits are not affected: a balance is
charged when a row is written. A spill file is written back at the next start, long before the marks
of its batches expire; one left longer than the retention (a router not started again for a month)
would have its batches counted again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from hubroute.store import reason, stop
from hubroute.store.schema import api_keys, budgets, ledger_batches, usage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hubroute.ledger")


class LedgerRetention:
    #: seconds between two rounds
    interval = 3600.0

    def __init__(self, engine: AsyncEngine, *, days: float, batch: int = 10_000, timeout: float = 60.0) -> None:
        self.engine = engine
        self.days = days
        self.retention = timedelta(days=days)
        #: rows a statement deletes
        self.batch = batch
        #: seconds a statement may take (then the round ends, as if the database were down)
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self._warned = False
        #: rows deleted since start: `usage`'s, and `ledger_batches`'
        self.rows = 0
        self.marks = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every(), name="hubroute-ledger-retention")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def prune(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete the ledger's rows and batch marks older than the retention: how many of each."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        rows = await self._delete(usage, usage.c.created_at, cutoff)
        self.rows += rows
        marks = await self._delete(ledger_batches, ledger_batches.c.written_at, cutoff)
        self.marks += marks
        return rows, marks

    async def _delete(self, table: sa.Table, when: sa.Column[datetime], cutoff: datetime) -> int:
        return await delete_older(self.engine, table, when, cutoff, batch=self.batch,
                                  statement_timeout=self.timeout)

    async def _every(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.interval)

    async def round(self) -> None:
        """One round: prune; a failure logged once until the database answers again, never raised."""
        try:
            rows, marks = await self.prune()
            if not self._warned:
                self._warned = True
                await self._warn_total_budgets()
        except Exception as exc:  # (the database is down, or too slow: the next round goes on)
            if not self._down:
                self._down = True
                log.warning("the usage ledger's retention could not delete its old rows (%s): tried again "
                            "every %d s", reason(exc), self.interval)
            return
        if self._down:
            self._down = False
            log.warning("the usage ledger's retention deletes its old rows again")
        if rows or marks:
            log.info("usage ledger: %d rows and %d batch marks older than %g days deleted", rows, marks, self.days)

    async def _warn_total_budgets(self) -> None:
        async with self.engine.connect() as conn:
            accounts = (await conn.execute(sa.select(sa.func.count()).select_from(budgets)
                                           .where(budgets.c.period == "total"))).scalar_one()
            keys = (await conn.execute(sa.select(sa.func.count()).select_from(api_keys).where(
                api_keys.c.budget_nano.is_not(None),
                sa.or_(api_keys.c.budget_period.is_(None), api_keys.c.budget_period == "total")))).scalar_one()
        if accounts or keys:
            log.warning("%d total budgets count only the usage ledger's last %g days (store.ledger_retention_days)",
                        accounts + keys, self.days)


async def delete_older(engine: AsyncEngine, table: sa.Table, when: sa.Column[datetime], cutoff: datetime, *,
                       batch: int = 10_000, statement_timeout: float = 60.0) -> int:
    """Delete `table`'s rows whose `when` is before `cutoff`, `batch` a statement (each its own
    transaction, oldest first, through `when`'s index), waiting between two statements as long as the
    last one took; each statement `statement_timeout` seconds at most (TimeoutError). How many were deleted."""
    chosen = (sa.select(table.c.id).where(when < cutoff).order_by(when).limit(batch)
              .with_for_update(skip_locked=True))  # (PostgreSQL's; SQLite's compiler leaves it out)
    statement = table.delete().where(table.c.id.in_(chosen))
    done = 0
    while True:
        began = time.monotonic()
        async with asyncio.timeout(statement_timeout), engine.begin() as conn:
            deleted = int((await conn.execute(statement)).rowcount or 0)
        done += deleted
        if deleted < batch:
            return done
        await asyncio.sleep(time.monotonic() - began)
