"""The usage ledger's retention against real SQLite files and a real PostgreSQL database: rows and batch
marks older than it deleted in bounded statements, younger ones kept, nothing deleted without it,
several routers pruning at once, a database that is down said once and never raised.

On PostgreSQL the rows these tests write, older than the current month, wait in the ledger's default
partition, whose rows are deleted one by one as SQLite's are; what the partitions themselves do is
`test_partitions.py`'s."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from hubroute.config import Settings
from hubroute.server.app import App
from hubroute.store import Store, create_engine
from hubroute.store.ledger import Batch, as_row
from hubroute.store.retention import LedgerRetention
from hubroute.store.schema import ledger_batches, usage
from tests.proxy import TcpProxy

DAY = 86400.0


def row(i: int, age_days: float) -> tuple[Any, ...]:
    return as_row({"request_id": f"req-{i}", "created_at": time.time() - age_days * DAY, "user_id": "u1",
                   "surface": "chat", "status": 200, "attempts": 1, "byok": False, "cost_nano": 1000})


async def fill(store: Store, *, old: int, young: int, old_marks: int) -> None:
    """`old` rows 100 days old, `young` 10 days old (in batches of 7: their marks written now), and
    `old_marks` batch marks written 100 days ago."""
    rows = [row(i, 100) for i in range(old)] + [row(old + i, 10) for i in range(young)]
    for first in range(0, len(rows), 7):
        assert await store.ledger._write(Batch.of(rows[first:first + 7]))
    then = datetime.now(UTC) - timedelta(days=100)
    if old_marks:
        async with store.engine.begin() as conn:
            await conn.execute(ledger_batches.insert(), [{"id": f"old-{i}", "rows": 1, "written_at": then}
                                                         for i in range(old_marks)])


async def left(engine: Any) -> tuple[list[str], int]:
    """The request ids the ledger holds, and how many batch marks."""
    async with engine.connect() as conn:
        ids = (await conn.execute(sa.select(usage.c.request_id).order_by(usage.c.id))).scalars().all()
        marks = (await conn.execute(sa.select(sa.func.count()).select_from(ledger_batches))).scalar_one()
    return list(ids), int(marks)


@pytest.fixture
def deletes() -> Iterator[Any]:
    """A function that counts, from now on, the DELETE statements an engine runs on the ledger's tables."""
    watched: list[tuple[Any, Any]] = []
    counted: dict[str, int] = {}

    def watch(engine: Any) -> dict[str, int]:
        def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE FROM"):
                table = statement.split()[2].strip('"')
                table = "usage" if table == "usage_default" else table  # (PostgreSQL's old rows wait there)
                if table in ("usage", "ledger_batches"):
                    counted[table] = counted.get(table, 0) + 1

        event.listen(engine.sync_engine, "before_cursor_execute", seen)
        watched.append((engine.sync_engine, seen))
        return counted

    yield watch
    for target, fn in watched:
        event.remove(target, "before_cursor_execute", fn)


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(store_url, spill_dir=tmp_path / "spill")
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path / 'hubroute.db'}", spill_dir=tmp_path / "spill")
    yield opened
    await opened.close()


async def test_rows_and_marks_older_than_the_retention_go_in_bounded_statements(store: Store, deletes: Any) -> None:
    await fill(store, old=25, young=5, old_marks=9)
    _, marks_before = await left(store.engine)
    assert marks_before == math.ceil(30 / 7) + 9
    pruner = LedgerRetention(store.engine, days=40, batch=4)
    counted = deletes(store.engine)
    assert await pruner.prune() == (25, 9)
    ids, marks = await left(store.engine)
    assert ids == [f"req-{i}" for i in range(25, 30)]  # the young rows, all of them
    assert marks == math.ceil(30 / 7)  # the marks written now are kept
    # at most 4 rows a statement: 7 statements for 25 rows (the last finds 1), 3 for 9 marks (the last 1)
    assert counted == {"usage": 7, "ledger_batches": 3}
    assert (pruner.rows, pruner.marks) == (25, 9)
    assert await pruner.prune() == (0, 0)  # nothing more: one statement each finds nothing
    assert counted == {"usage": 8, "ledger_batches": 4}


async def test_a_row_is_kept_until_it_is_older_than_the_retention(sqlite_store: Store) -> None:
    """SQLite's rows, one by one (PostgreSQL drops whole partitions: test_partitions.py)."""
    store = sqlite_store
    await fill(store, old=0, young=3, old_marks=0)  # 10 days old
    now = datetime.now(UTC)
    assert await LedgerRetention(store.engine, days=32).prune(now) == (0, 0)
    assert len((await left(store.engine))[0]) == 3
    assert await LedgerRetention(store.engine, days=32).prune(now + timedelta(days=21, hours=23)) == (0, 0)
    assert len((await left(store.engine))[0]) == 3  # 31 days 23 hours old
    # 32 days 1 hour old: the rows go; their batch's mark, written now, is 22 days old: kept
    assert await LedgerRetention(store.engine, days=32).prune(now + timedelta(days=22, hours=1)) == (3, 0)
    assert await left(store.engine) == ([], 1)
    assert await LedgerRetention(store.engine, days=32).prune(now + timedelta(days=32, hours=1)) == (0, 1)
    assert await left(store.engine) == ([], 0)


async def test_nothing_is_deleted_without_a_retention(store_url: str, tmp_path: Path, deletes: Any) -> None:
    """No `store.ledger_retention_days`: a router runs no DELETE on the ledger and drops nothing (on
    PostgreSQL its rounds only make partitions)."""
    seed = await Store.open(store_url, spill_dir=tmp_path / "spill")
    await fill(seed, old=10, young=2, old_marks=3)
    await seed.close()
    settings = Settings.parse(f"store: {{url: '{store_url}', spill_dir: '{tmp_path / 'spill'}'}}", {})
    assert settings.store.ledger_retention_days is None
    app = App(settings, environ={})
    await app.startup()
    try:
        assert app.store is not None
        retention = app.store.retention
        assert retention is None if store_url.startswith("sqlite") else retention is not None and retention.days is None
        counted = deletes(app.store.engine)
        await asyncio.sleep(0.2)
        if retention is not None:
            await retention.round()
            assert retention.dropped == []
        ids, marks = await left(app.store.engine)
        assert len(ids) == 12 and marks == 2 + 3 and counted == {}
    finally:
        await app.shutdown()


async def test_a_router_prunes_at_start_and_stops_with_its_store(store_url: str, tmp_path: Path) -> None:
    seed = await Store.open(store_url, spill_dir=tmp_path / "spill")
    await fill(seed, old=10, young=2, old_marks=3)
    await seed.close()
    config = f"store: {{url: '{store_url}', spill_dir: '{tmp_path / 'spill'}', ledger_retention_days: 40}}"
    app = App(Settings.parse(config, {}), environ={})
    await app.startup()
    try:
        assert app.store is not None and app.store.retention is not None
        retention = app.store.retention
        deadline = time.monotonic() + 10
        while (await left(app.store.engine))[0] != ["req-10", "req-11"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert retention._task is not None and not retention._task.done()  # sleeping until the next hour
    finally:
        await app.shutdown()
    assert retention._task is None
    engine = create_engine(store_url)
    try:
        assert await left(engine) == (["req-10", "req-11"], 2)
    finally:
        await engine.dispose()


async def test_routers_pruning_at_once_delete_each_row_once(store_url: str, tmp_path: Path) -> None:
    stores = [await Store.open(store_url, spill_dir=tmp_path / "spill") for _ in range(3)]
    try:
        await fill(stores[0], old=300, young=20, old_marks=40)
        pruners = [LedgerRetention(s.engine, days=40, batch=16) for s in stores]
        done = await asyncio.gather(*(p.prune() for p in pruners))
        assert sum(rows for rows, _ in done) == 300 and sum(marks for _, marks in done) == 40
        ids, marks = await left(stores[0].engine)
        assert ids == [f"req-{i}" for i in range(300, 320)] and marks == math.ceil(320 / 7)
    finally:
        for s in stores:
            await s.close()


async def test_a_database_that_is_down_is_said_once_and_never_raised(
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = await TcpProxy("127.0.0.1", port).start()
    direct = await Store.open(postgres_url)
    engine = create_engine(proxy.url_for(postgres_url))
    try:
        await fill(direct, old=5, young=1, old_marks=0)
        pruner = LedgerRetention(engine, days=40, batch=2, timeout=2)
        proxy.cut()
        caplog.set_level(logging.INFO, "hubroute.ledger")
        for _ in range(3):
            await pruner.round()  # each attempt: no exception
        said = [r for r in caplog.records if "retention" in r.getMessage()]
        assert len(said) == 1 and said[0].levelno == logging.WARNING, [r.getMessage() for r in said]
        assert len((await left(direct.engine))[0]) == 6  # nothing deleted

        proxy.restore()
        await pruner.round()
        assert (await left(direct.engine))[0] == ["req-5"]
        said = [r.getMessage() for r in caplog.records if "retention" in r.getMessage() or "deleted" in r.getMessage()]
        assert len(said) == 3 and "again" in said[1] and "5 rows" in said[2], said
    finally:
        await proxy.close()
        await engine.dispose()
        await direct.close()


async def test_an_unreachable_database_at_start_does_not_stop_the_rounds(caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    pruner = LedgerRetention(engine, days=40)
    pruner.interval = 0.01
    caplog.set_level(logging.INFO, "hubroute.ledger")
    try:
        pruner.start()
        await asyncio.sleep(0.3)  # many rounds
        assert pruner._task is not None and not pruner._task.done()
        said = [r for r in caplog.records if "retention" in r.getMessage()]
        assert len(said) == 1, [r.getMessage() for r in said]
    finally:
        await pruner.close()
        await engine.dispose()


async def test_total_budgets_are_said_to_count_only_what_is_retained(store: Store,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    pruner = LedgerRetention(store.engine, days=90)
    caplog.set_level(logging.INFO, "hubroute.ledger")
    await pruner.round()
    assert not [r for r in caplog.records if "total budgets" in r.getMessage()]
    ada = await store.accounts.create_user("ada")
    await store.accounts.set_budget("user", ada["id"], 10**9, "total")
    await store.accounts.set_budget("user", ada["id"], 10**9, "month")
    await store.accounts.create_key(user=ada["id"], budget_nano=10**9)  # a key's budget with no period: total
    fresh = LedgerRetention(store.engine, days=90)
    await fresh.round()
    await fresh.round()  # said once a process
    said = [r.getMessage() for r in caplog.records if "total budgets" in r.getMessage()]
    assert said == ["2 total budgets count only the usage ledger's last 90 days (store.ledger_retention_days)"]
