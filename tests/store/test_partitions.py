"""The usage ledger's partitions on the real PostgreSQL: made ahead for the current period, rows that
waited in the default partition moved into theirs, whole partitions dropped by the retention (and
nothing younger), an existing ledger partitioned by its migration with every row and its numbering
kept (and back by the downgrade), several routers making partitions at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hubroute.store import Store, create_engine, migrate
from hubroute.store.ledger import Batch, as_row
from hubroute.store.partitions import partitions
from hubroute.store.retention import LedgerRetention


def at(when: datetime, i: int) -> tuple[Any, ...]:
    return as_row({"request_id": f"req-{i}", "created_at": when.timestamp(), "user_id": "u1", "surface": "chat",
                   "status": 200, "attempts": 1, "byok": False})


async def write(store: Store, *times: datetime) -> None:
    assert await store.ledger._write(Batch.of([at(t, i) for i, t in enumerate(times)]))


async def where(engine: Any) -> dict[str, str]:
    """Each row's request id and the partition holding it."""
    async with engine.connect() as conn:
        found = (await conn.execute(sa.text("SELECT request_id, tableoid::regclass::text FROM usage"))).all()
    return dict(found)  # type: ignore[arg-type]


async def names(engine: Any) -> list[str]:
    async with engine.begin() as conn:
        return [p.name for p in await conn.run_sync(partitions)]


@pytest.fixture
async def store(postgres_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(postgres_url, spill_dir=tmp_path / "spill")
    yield opened
    await opened.close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_a_new_ledger_has_this_month_and_the_next_and_a_row_finds_its_own(store: Store) -> None:
    now = datetime.now(UTC)
    this = utc(now.year, now.month, 1)
    after = utc(now.year + 1, 1, 1) if now.month == 12 else utc(now.year, now.month + 1, 1)
    beyond = utc(after.year + 1, 1, 1) if after.month == 12 else utc(after.year, after.month + 1, 1)
    expected = [f"usage_{this:%Y%m%d}_{after:%Y%m%d}", f"usage_{after:%Y%m%d}_{beyond:%Y%m%d}", "usage_default"]
    assert await names(store.engine) == expected  # made when the store opened
    await write(store, now, now - timedelta(days=400))
    assert await where(store.engine) == {"req-0": expected[0], "req-1": "usage_default"}
    assert store.retention is not None and await store.retention.make_partitions() == []  # nothing more to make


async def test_rows_waiting_in_the_default_partition_move_into_theirs_when_it_is_made(store: Store) -> None:
    assert store.retention is not None
    later = utc(2031, 5, 10)
    await write(store, later, later + timedelta(days=1), utc(2031, 6, 1))
    assert set((await where(store.engine)).values()) == {"usage_default"}
    made = await store.retention.make_partitions(later)
    assert made == ["usage_20310501_20310601", "usage_20310601_20310701"]
    assert await where(store.engine) == {"req-0": made[0], "req-1": made[0], "req-2": made[1]}
    async with store.engine.connect() as conn:  # the same rows, once each, and numbered as before
        ids = (await conn.execute(sa.text("SELECT id FROM usage ORDER BY id"))).scalars().all()
    assert len(ids) == len(set(ids)) == 3


async def test_day_partitions_fill_what_months_leave_and_a_week_ahead(store: Store, postgres_url: str,
                                                                      tmp_path: Path) -> None:
    days = await Store.open(postgres_url, spill_dir=tmp_path / "spill", ledger_partition="day")
    try:
        assert days.retention is not None
        assert await days.retention.make_partitions() == []  # this month's partition covers the week
        made = await days.retention.make_partitions(utc(2031, 1, 30, 12))
        assert made == [f"usage_203101{d:02d}_203101{d + 1:02d}" for d in (30,)] + [
            "usage_20310131_20310201", *(f"usage_203102{d:02d}_203102{d + 1:02d}" for d in range(1, 7))]
        await write(store, utc(2031, 2, 3, 23, 59, 59))
        assert await where(store.engine) == {"req-0": "usage_20310203_20310204"}
    finally:
        await days.close()


async def test_the_retention_drops_whole_partitions_older_than_it_and_nothing_younger(store: Store) -> None:
    upkeep = LedgerRetention(store.engine, days=40)
    for month in (utc(2030, 12, 5), utc(2031, 2, 5)):
        await upkeep.make_partitions(month)
    assert (await names(store.engine))[-5:] == ["usage_20301201_20310101", "usage_20310101_20310201",
                                                "usage_20310201_20310301", "usage_20310301_20310401",
                                                "usage_default"]
    await write(store, utc(2030, 12, 20), utc(2031, 1, 31, 23), utc(2031, 2, 1, 12), utc(2031, 3, 10),
                utc(2030, 1, 1), utc(2031, 3, 1))
    await write(store, utc(2029, 6, 1))  # (req-0 again: its own batch)
    now = utc(2031, 3, 15)  # the retention's cutoff: 2031-02-03
    # the default partition's two old rows, one by one; the batches' two marks (written today)
    assert await upkeep.prune(now) == (2, 2)
    # (this month's and the next, made when the store opened, are older still: they go too)
    assert upkeep.dropped[-2:] == ["usage_20301201_20310101", "usage_20310101_20310201"]
    dropped = len(upkeep.dropped)
    # 2031-02-01 12:00 is older than the cutoff, but its partition is not wholly: kept (at most a month more)
    assert await where(store.engine) == {"req-2": "usage_20310201_20310301", "req-3": "usage_20310301_20310401",
                                         "req-5": "usage_20310301_20310401"}
    assert await upkeep.prune(now) == (0, 0) and len(upkeep.dropped) == dropped
    assert await upkeep.prune(utc(2031, 4, 10)) == (0, 0)  # cutoff 2031-03-01: February's goes
    assert upkeep.dropped[-1] == "usage_20310201_20310301"
    assert sorted(await where(store.engine)) == ["req-3", "req-5"]


async def test_routers_making_partitions_at_once_make_each_once(postgres_url: str, tmp_path: Path) -> None:
    stores = [await Store.open(postgres_url, spill_dir=tmp_path / "spill") for _ in range(3)]
    try:
        upkeeps = [LedgerRetention(s.engine, days=None) for s in stores]
        made = await asyncio.gather(*(u.make_partitions(utc(2032, 7, 1)) for u in upkeeps))
        made += await asyncio.gather(*(u.make_partitions(utc(2032, 7, 1)) for u in upkeeps))
        every = [name for m in made for name in m]
        assert sorted(every) == ["usage_20320701_20320801", "usage_20320801_20320901"]
    finally:
        for s in stores:
            await s.close()


async def test_an_existing_ledger_is_partitioned_with_its_rows_and_back(postgres_url: str) -> None:
    from alembic import command

    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as conn:  # a ledger written before partitions, a year of rows
            await conn.run_sync(lambda c: command.upgrade(migrate._config(c), "0009_ledger_retention"))
            await conn.execute(sa.text(
                "INSERT INTO usage (request_id, created_at, surface, byok, status, attempts) "
                "SELECT 'old-' || n, now() - n * interval '1 day', 'chat', false, 200, 1 "
                "FROM generate_series(0, 364) n"))
        async with engine.begin() as conn:
            await conn.run_sync(migrate._upgrade)
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y%m%d")
        assert await where(engine) == {f"old-{n}": f"usage_min_{tomorrow}" for n in range(365)}
        store = await Store.open(postgres_url)
        try:
            await write(store, datetime.now(UTC) + timedelta(days=2))
            async with engine.connect() as conn:
                new, oldest = (await conn.execute(sa.text(
                    "SELECT (SELECT id FROM usage WHERE request_id = 'req-0'), max(id) FROM usage "
                    "WHERE request_id LIKE 'old-%'"))).one()
            assert new == oldest + 1  # the numbering goes on
            # the old rows go together, once the newest of them is past the retention
            upkeep = LedgerRetention(store.engine, days=40)
            assert await upkeep.prune() == (0, 0) and upkeep.dropped == []
            await upkeep.prune(datetime.now(UTC) + timedelta(days=42))
            assert upkeep.dropped == [f"usage_min_{tomorrow}"]
            assert list(await where(engine)) == ["req-0"]
        finally:
            await store.close()
        async with engine.begin() as conn:  # and back: one plain table, every row in it
            await conn.run_sync(lambda c: command.downgrade(migrate._config(c), "0009_ledger_retention"))
        async with engine.connect() as conn:
            kind = (await conn.execute(sa.text("SELECT relkind::text FROM pg_class WHERE relname = 'usage'"))).scalar()
            left = (await conn.execute(sa.text("SELECT request_id FROM usage"))).scalars().all()
        assert kind == "r" and left == ["req-0"]
    finally:
        await engine.dispose()
