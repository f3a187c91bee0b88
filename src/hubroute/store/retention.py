"""The usage ledger's upkeep: its retention (`store.ledger_retention_days`) and, on PostgreSQL, its partitions.

    upkeep = LedgerRetention(engine, days=90)   # then upkeep.start() on the event loop
    await upkeep.close()

Each round (at start, then every `interval` seconds) removes the ledger's rows older than the
retention, then the `ledger_batches` marks whose `written_at` is:

- On PostgreSQL, where `usage` is partitioned by time (`store.partitions`), a round first makes the
  partitions of the current period and the next ones (a round runs there even without a retention),
  then drops each partition whose whole range is older than the retention: a row is kept at least
  the retention and at most a partition (a month, or a day with `store.ledger_partition: day`)
  longer, and nothing is deleted row by row but the few rows of the default partition.
- On SQLite, it deletes the rows older than the retention.

Rows and marks are deleted `batch` a statement, each statement its own transaction, oldest first
through the time's index, and between two statements the round waits as long as the last one took:
no long lock, no large transaction, at most half of the database's time spent deleting (SQLite has
one writer: the ledger's gets its turns).

Every router process runs rounds; several at once is harmless: on PostgreSQL partitions are made and
dropped under an advisory lock (one router at a time; the others skip their turn), and a DELETE takes
its rows with `FOR UPDATE SKIP LOCKED` (rows another router is deleting are left to it: no waiting, no
deadlock); SQLite writes one statement at a time anyway. A database that cannot be reached costs one
log line (and one when it answers again); the next round tries again.

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

from hubroute.store import partitions, reason, stop
from hubroute.store.schema import api_keys, budgets, ledger_batches, usage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hubroute.ledger")

#: the default partition, as the DELETE of its old rows names it
_DEFAULT = sa.table(partitions.DEFAULT, sa.column("id"), sa.column("created_at"))


class LedgerRetention:
    #: seconds between two rounds
    interval = 3600.0

    def __init__(self, engine: AsyncEngine, *, days: float | None, partition: partitions.Unit = "month",
                 batch: int = 10_000, timeout: float = 60.0) -> None:
        self.engine = engine
        #: None: nothing deleted (on PostgreSQL, rounds still make the partitions)
        self.days = days
        #: PostgreSQL's: the ledger's partitions are made and dropped rather than its rows deleted
        self.partitioned = engine.dialect.name == "postgresql"
        self.partition = partition
        #: rows a statement deletes
        self.batch = batch
        #: seconds a statement may take (then the round ends, as if the database were down)
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self._warned = False
        #: rows deleted since start: `usage`'s, and `ledger_batches`'; partitions dropped and made
        self.rows = 0
        self.marks = 0
        self.dropped: list[str] = []
        self.made: list[str] = []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every(), name="hubroute-ledger-retention")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def make_partitions(self, now: datetime | None = None) -> list[str]:
        """On PostgreSQL, make the partitions of the current period and the next ones; those made."""
        if not self.partitioned:
            return []
        async with asyncio.timeout(self.timeout), self.engine.begin() as conn:
            made = await conn.run_sync(partitions.ensure, now or datetime.now(UTC), self.partition)
        self.made += made
        for name in made:
            log.info("usage ledger: partition %s made", name)
        return made

    async def prune(self, now: datetime | None = None) -> tuple[int, int]:
        """Remove the ledger's rows and batch marks older than the retention: how many rows were
        deleted one by one (not those of the partitions dropped, `dropped`), and how many marks."""
        if self.days is None:
            return 0, 0
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.days)
        if self.partitioned:
            async with asyncio.timeout(self.timeout), self.engine.begin() as conn:
                dropped = await conn.run_sync(partitions.drop_before, cutoff)
            self.dropped += dropped
            for name in dropped:
                log.info("usage ledger: partition %s dropped (its rows older than %g days)", name, self.days)
            rows = await self._delete(_DEFAULT, _DEFAULT.c.created_at, cutoff)
        else:
            rows = await self._delete(usage, usage.c.created_at, cutoff)
        self.rows += rows
        marks = await self._delete(ledger_batches, ledger_batches.c.written_at, cutoff)
        self.marks += marks
        return rows, marks

    async def _delete(self, table: sa.TableClause, when: sa.ColumnClause[datetime], cutoff: datetime) -> int:
        return await delete_older(self.engine, table, when, cutoff, batch=self.batch,
                                  statement_timeout=self.timeout)

    async def _every(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.interval)

    async def round(self) -> None:
        """One round: make partitions, prune; a failure logged once until the database answers again,
        never raised."""
        try:
            await self.make_partitions()
            rows, marks = await self.prune()
            if not self._warned and self.days is not None:
                self._warned = True
                await self._warn_total_budgets()
        except Exception as exc:  # (the database is down, or too slow: the next round goes on)
            if not self._down:
                self._down = True
                log.warning("the usage ledger's upkeep (its retention, its partitions) could not run (%s): "
                            "tried again every %d s", reason(exc), self.interval)
            return
        if self._down:
            self._down = False
            log.warning("the usage ledger's upkeep (its retention, its partitions) runs again")
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


async def delete_older(engine: AsyncEngine, table: sa.TableClause, when: sa.ColumnClause[datetime],
                       cutoff: datetime, *,
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
