"""Short work in one trip to the database (`store.trips`), on a real SQLite file (a blocking engine
in a worker thread) and a real PostgreSQL database (the async engine): one transaction, committed
when the work returns, rolled back when it raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from hubroute.store import MEMORY, Store
from hubroute.store.schema import users


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
