"""Short work in one trip to the database (`store.trips`), on a real SQLite file (a blocking engine,
on the event loop unless another connection is writing, else in a worker thread) and a real
PostgreSQL database (the async engine): one transaction, committed when the work returns, rolled
back when it raises; on SQLite, never waiting on the loop, and the WAL kept bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hubroute.store import MEMORY, Store
from hubroute.store.responses import Owner, Responses
from hubroute.store.schema import responses, users
from hubroute.store.trips import PAUSES, Trips


def row(name: str) -> dict[str, Any]:
    return {"id": f"u_{name}", "name": name, "created_at": datetime.now(UTC)}


async def test_work_is_one_transaction(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        assert (store.trips.blocking is not None) == store_url.startswith("sqlite")

        def add(name: str, fail: bool = False) -> Callable[[sa.Connection], int]:
            def work(conn: sa.Connection) -> int:
                conn.execute(users.insert(), row(name))
                if fail:
                    raise RuntimeError("the work failed after its insert")
                return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())
            return work

        assert await store.trips.run(add("ada")) == 1
        with pytest.raises(RuntimeError, match="failed after its insert"):
            await store.trips.run(add("bob", fail=True))
        async with store.engine.connect() as conn:  # what the rest of the store sees
            names = (await conn.execute(sa.select(users.c.name))).scalars().all()
        assert names == ["ada"]
    finally:
        await store.close()


async def test_sqlite_in_memory_uses_its_one_connection() -> None:
    store = await Store.open(MEMORY)
    try:
        assert store.trips.blocking is None  # (another connection would see another database)
        await store.trips.run(lambda conn: conn.execute(users.insert(), row("ada")))
        async with store.engine.connect() as conn:
            assert (await conn.execute(sa.select(users.c.name))).scalars().all() == ["ada"]
    finally:
        await store.close()


def full_row(name: str) -> dict[str, Any]:
    """A users row with a value for every column, as `Trips.insert` takes it."""
    return {**row(name), "admin": False, "blocked": False, "metadata": {"team": name, "n": [1, 2]},
            "credits_nano": 0, **{c.name: None for c in users.c if c.name not in (*row(name), "admin", "blocked",
                                                                                 "metadata", "credits_nano")}}


def add_work(way: str, trips: Trips, name: str) -> Any:
    """Insert a user: through `run` and SQLAlchemy, or through `insert` (the driver itself on the loop)."""
    if way == "insert":
        return trips.insert(users, full_row(name))
    return trips.run(lambda conn: conn.execute(users.insert(), row(name)))


async def test_insert_writes_what_sqlalchemy_reads_back(store_url: str) -> None:
    """A row put through the driver on the loop reads back as SQLAlchemy would have written it: JSON
    columns as objects, times as aware datetimes (a stored response, as `GET /v1/responses/{id}` reads it)."""
    store = await Store.open(store_url)
    kept = Responses(store.engine, trips=store.trips)
    try:
        body = {"id": "resp_1", "created_at": 1_765_000_000, "output": [{"type": "message", "text": "é ☃ \u0000"}],
                "metadata": {"k": "v"}}
        items = [{"type": "message", "role": "user", "content": "hi"}]
        await kept.put(body, items, Owner(), None)
        await store.trips.insert(users, full_row("ada"))
        assert store.trips.ran_on_loop == (2 if store_url.startswith("sqlite") else 0)
        assert await kept.get("resp_1", Owner(everyone=True)) == (body, items)
        async with store.engine.connect() as conn:
            made = (await conn.execute(sa.select(responses.c.created_at))).scalar_one()
            metadata = (await conn.execute(sa.select(users.c.metadata))).scalar_one()
        assert made.replace(tzinfo=UTC) == datetime.fromtimestamp(1_765_000_000, UTC)
        assert metadata == {"team": "ada", "n": [1, 2]}
        with pytest.raises(sa.exc.IntegrityError):  # (the same id twice: SQLAlchemy's error, rolled back)
            await kept.put(body, items, Owner(), None)
        await kept.put({**body, "id": "resp_2"}, items, Owner(), "resp_1")  # (the connection still writes)
        conversation = await kept.conversation("resp_2", Owner(everyone=True))
        assert [i["role"] for i in conversation or [] if "role" in i] == ["user", "user"]
        with pytest.raises(ValueError, match="every column"):
            await store.trips.insert(users, row("bob"))
    finally:
        await store.close()


def another_writer(path: Path, seconds: float, *statements: str) -> asyncio.Task[None]:
    """Another connection writing the SQLite file `path` (`statements`, in its transaction) for `seconds`:
    it holds the write lock from now, and commits in a thread (the task)."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    for statement in statements:
        other.execute(statement)

    def release() -> None:
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    return asyncio.create_task(asyncio.to_thread(release))


@pytest.mark.parametrize("way", ["run", "insert"])
async def test_sqlite_work_waits_for_a_short_write_on_the_loop(tmp_path: Path, way: str) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        releasing = another_writer(tmp_path / "store.db", 0.005)
        await add_work(way, store.trips, "ada")
        await releasing
        assert store.trips.busy >= 1 and store.trips.handed_over == 0 and store.trips.ran_on_loop == 1
    finally:
        await store.close()


async def test_sqlite_work_waits_for_a_long_write_off_the_loop(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        trips = store.trips
        await trips.run(lambda conn: conn.execute(users.insert(), row("ada")))
        assert (trips.ran_on_loop, trips.busy, trips.handed_over) == (1, 0, 0)

        loop_free = asyncio.Event()

        async def beat() -> None:  # the loop runs while the work waits
            await asyncio.sleep(0.1)
            loop_free.set()

        t0 = time.monotonic()
        releasing = another_writer(tmp_path / "store.db", 0.5,
                                   "INSERT INTO users (id, name, admin, blocked, metadata, created_at) "
                                   "VALUES ('u_eve', 'eve', 0, 0, '{}', '2026-01-01 00:00:00')")
        beating = asyncio.create_task(beat())
        count = await trips.run(lambda conn: (conn.execute(users.insert(), row("bob")),
                                              conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())[1])
        await releasing
        await beating
        assert time.monotonic() - t0 >= 0.45 and loop_free.is_set()
        assert count == 3 and trips.handed_over == 1  # (rolled back on the loop, done once in the thread)
        assert trips.busy == len(PAUSES)
        async with store.engine.connect() as conn:
            assert sorted((await conn.execute(sa.select(users.c.name))).scalars().all()) == ["ada", "bob", "eve"]
    finally:
        await store.close()


async def test_sqlite_insert_waits_for_a_long_write_off_the_loop(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        releasing = another_writer(tmp_path / "store.db", 0.3)
        await store.trips.insert(users, full_row("ada"))
        await releasing
        assert (store.trips.ran_on_loop, store.trips.busy, store.trips.handed_over) == (0, len(PAUSES), 1)
        async with store.engine.connect() as conn:
            assert (await conn.execute(sa.select(users.c.metadata))).scalar_one() == {"team": "ada", "n": [1, 2]}
    finally:
        await store.close()


@pytest.mark.parametrize("way", ["run", "insert"])
async def test_sqlite_wal_stays_bounded_with_only_the_loop_writing(tmp_path: Path, way: str) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        big = {"pad": "x" * 8000}  # (three pages a row: 2,000 rows would make a WAL of about 25 MB)
        for i in range(2000):
            if way == "insert":
                await store.trips.insert(users, {**full_row(f"u{i}"), "metadata": big})
            else:
                await store.trips.run(lambda conn, i=i: conn.execute(users.insert(), {**row(f"u{i}"), "metadata": big}))
            await asyncio.sleep(0)  # (as a server's loop turns between requests: the checkpoints' ends are seen)
        assert store.trips.ran_on_loop + store.trips.handed_over == 2000 and store.trips.ran_on_loop > 1000
        await asyncio.sleep(0.5)  # (the last checkpoint done)
        wal = (tmp_path / "store.db-wal").stat().st_size
        assert wal < 8_000_000, f"the WAL grew to {wal:,} bytes"
    finally:
        await store.close()
